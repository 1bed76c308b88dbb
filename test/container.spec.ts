// The composition-root recipe of docs/dependency-injection.md, run as a test so it cannot rot.
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { Container, inject, injectable } from 'inversify';
import {
  CORE_IDS,
  coreModule,
  defaultPrimitives,
  initBackend,
  tf,
  type BackendInfo,
  type Primitives,
  type Tensor2D,
} from '@moderoute/core';

// A consumer's service: receives the primitives and the backend by injection.
@injectable()
class Projector {
  constructor(
    @inject(CORE_IDS.Primitives) private readonly ops: Primitives,
    @inject(CORE_IDS.BackendInfo) readonly backend: BackendInfo,
  ) {}

  project(x: Tensor2D, w: Tensor2D): Tensor2D {
    return this.ops.linear(x, w);
  }
}

describe('coreModule', () => {
  describe('when loaded into a container after initBackend', () => {
    it('should inject the primitives and the active backend', async () => {
      // [docs:container]
      await initBackend({ backend: 'cpu' });
      const container = new Container();
      container.load(coreModule);
      container.bind(Projector).toSelf();
      const projector = container.get(Projector);
      // [/docs:container]
      assert.equal(projector.backend.name, 'cpu');
      tf.tidy(() => {
        const y = projector.project(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
        assert.deepEqual(y.arraySync(), [[11]]);
      });
    });

    it('should let a consumer rebind the primitives', async () => {
      const container = new Container();
      container.load(coreModule);
      const calls: string[] = [];
      const traced: Primitives = {
        ...defaultPrimitives,
        linear: ((x, w, b) => {
          calls.push('linear');
          return defaultPrimitives.linear(x, w, b);
        }) as Primitives['linear'],
      };
      container.rebind(CORE_IDS.Primitives).toConstantValue(traced);
      container.bind(Projector).toSelf();
      tf.tidy(() => container.get(Projector).project(tf.ones([1, 2]), tf.ones([2, 1])));
      assert.deepEqual(calls, ['linear']);
    });
  });
});
