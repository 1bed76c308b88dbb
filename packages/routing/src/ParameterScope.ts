// Where a router's parameters live. A router receives a ParameterScope at construction and
// creates every variable through it; a block passes its ParameterStore scoped `routers.<r>`, so
// the model's one store owns, names (`blocks.<i>.routers.<r>.<name>`), checkpoints and disposes
// them. A router built alone (tests, tools) gets an OwnedParameterScope, which it disposes.
// Declared here, not in blocks, because routing cannot depend on blocks.
import { ConfigError, tf, type Tensor, type Variable } from '@moderoute/core';

/** Where a router creates its variables: a block's parameter store, or a scope of its own. */
export interface ParameterScope {
  /**
   * Creates the parameter `name` (unique within the scope) of the given shape, starting at
   * `init()` (called once, its tensors freed after), trained by the optimizer or not (state
   * saved with the parameters, such as the MoD cuts).
   */
  variable(
    name: string,
    shape: readonly number[],
    init: () => Tensor,
    trainable: boolean,
  ): Variable;
}

/** A scope that owns its variables: for routers built outside a model. */
export class OwnedParameterScope implements ParameterScope {
  private readonly vars = new Map<string, Variable>();

  variable(
    name: string,
    shape: readonly number[],
    init: () => Tensor,
    trainable: boolean,
  ): Variable {
    if (this.vars.has(name))
      throw new ConfigError('parameter name', name, 'unique within the scope');
    const value = tf.tidy(init);
    if (!tf.util.arraysEqual(value.shape, [...shape])) {
      value.dispose();
      throw new ConfigError(
        `initial value of ${name}`,
        value.shape,
        `of shape [${shape.join(', ')}]`,
      );
    }
    const v = tf.variable(value, trainable);
    value.dispose();
    this.vars.set(name, v);
    return v;
  }

  /** Every variable by name, in creation order. */
  named(): ReadonlyMap<string, Variable> {
    return this.vars;
  }

  /** The trainable ones. */
  trainable(): Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }

  /** Frees every variable the scope created. */
  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
