// A routed block as one differentiable op (issue 19): the gather of the routed rows, the block's
// residual update f on them and the epilogue that adds it back, weighed, at their tokens.
// Mixture-of-Depths (Raposo et al. 2024, eq. 1), for the tokens i a router selected:
//   out_i = x_i + w_i f_i(X~),   out_j = x_j for every other token j,
// X~ the selected tokens of each sequence (S of them, in order), among which attention runs.
// Axis legend: M rows of x (tokens), B sequences, S selected per sequence, N = B S, D width.
//
// Composed, this is gatherRows, fusedBlockUpdate and routedResidual: three tape nodes, and a
// backward that scatters the rows' gradient into a zero [M, D] tensor for the tape to add to the
// residual's dy. Fused, the tape holds one node and the backward is
//   (drows, dw) = routedResidual'(dy),  (dX~, dparams) = f'(drows),  dx = dy + scatter(dX~)
// with the last one the epilogue's own kernel (routedResidual with unit weights). A MoD block
// pays these fixed costs on its few rows at every step, where its compute is an eighth of a dense
// block's (docs/performance.md, round 10).
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Tensor3D } from '../tf.js';
import { ShapeError } from '../errors.js';
import { requireDtype } from '../validate.js';
import { fusedBlockUpdate, ownBlockUpdateKernels } from './blockUpdate.js';
import {
  blockParamList,
  checkBlockParams,
  ownBlockBackward,
  ownBlockForward,
  type BlockUpdateParams,
} from './blockUpdatePasses.js';
import { GATHER_ROWS, gatherRows } from './gather.js';
import { routedResidual } from './routedResidual.js';
import {
  ROUTED_RESIDUAL_BACKWARD,
  ROUTED_RESIDUAL_FORWARD,
  ownRoutedResidualKernels,
} from './routedResidualKernel.js';

type SaveFn = (tensors: Tensor[]) => void;

/** What routes the rows: S per sequence of B, at `indices`, weighed by `weights`. */
export interface RowRoute {
  /** int32[N], N = B S: the rows of x selected, sequence by sequence, in order. */
  readonly indices: Tensor1D;
  /** float32[N]: each selected row's weight w_i (the router's combine weight). */
  readonly weights: Tensor1D;
  /** B: the sequences, each with N / B selected rows. */
  readonly sequences: number;
}

/** Whether fusedRoutedUpdate runs as one op here: the block update's and the epilogue's own kernels serve. */
export function ownRoutedUpdateKernels(): boolean {
  return ownBlockUpdateKernels() && ownRoutedResidualKernels();
}

function checkRoute(x: Tensor2D, route: RowRoute): { b: number; s: number } {
  requireDtype('route.indices', route.indices, 'int32');
  if (x.rank !== 2 || x.dtype !== 'float32')
    throw new ShapeError('x', `${x.dtype}${JSON.stringify(x.shape)}`, 'float32[M, D]');
  const n = route.indices.shape[0];
  const b = route.sequences;
  if (route.indices.rank !== 1 || !Number.isInteger(b) || b < 1 || n % b !== 0)
    throw new ShapeError(
      'route.indices.shape',
      route.indices.shape,
      `[N] with N a multiple of route.sequences (${b})`,
    );
  if (route.weights.rank !== 1 || route.weights.shape[0] !== n || route.weights.dtype !== 'float32')
    throw new ShapeError('route.weights.shape', route.weights.shape, `float32[${n}], one per row`);
  return { b, s: n / b };
}

/** The same op composed of gatherRows, fusedBlockUpdate and routedResidual. */
function composedRoutedUpdate(
  x: Tensor2D,
  route: RowRoute,
  params: BlockUpdateParams,
  heads: number,
  causal: boolean,
  b: number,
  s: number,
): Tensor2D {
  const d = x.shape[1];
  const rows = tf.reshape(gatherRows(x, route.indices), [b, s, d]) as Tensor3D;
  // fusedBlockUpdate composes the layers itself where the own kernels do not serve.
  const update = fusedBlockUpdate(rows, params, heads, causal);
  return routedResidual(
    x,
    tf.reshape(update, [b * s, d]) as Tensor2D,
    route.weights,
    route.indices,
  );
}

/**
 * x float32[M, D] plus, at the routed rows, their weights times the block update f of the routed
 * rows (attention among each sequence's S rows, causal when `causal`): see the top of this file.
 * One custom gradient on core's own kernels where they serve (ownRoutedUpdateKernels), else the
 * same composed of gatherRows, the block update and routedResidual. Differentiable in x, the
 * weights and the parameters (not the indices).
 */
export function fusedRoutedUpdate(
  x: Tensor2D,
  route: RowRoute,
  params: BlockUpdateParams,
  heads: number,
  causal: boolean,
): Tensor2D {
  const { b, s } = checkRoute(x, route);
  const d = x.shape[1];
  checkBlockParams(d, params, heads);
  if (b * s === 0) return tf.clone(x);
  if (!ownRoutedUpdateKernels()) return composedRoutedUpdate(x, route, params, heads, causal, b, s);
  const { indices, weights } = route;
  const shape = { b, t: s, d, heads };
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as SaveFn;
    const engine = tf.engine();
    // The indices are checked against M by the gather kernel before any row is read.
    const rows = engine.runKernel(GATHER_ROWS, { table: x, indices }, {}) as Tensor2D;
    const { f, kept } = ownBlockForward(rows, shape, params, causal);
    const [out] = engine.runKernel(
      ROUTED_RESIDUAL_FORWARD,
      { x, rows: f, weights, indices },
      {},
    ) as Tensor[];
    // The indices are not an input (int32 on the tape fails) but are saved, as gatherRows does.
    save([f, weights, indices, ...kept]);
    return {
      value: out,
      gradFunc: (dy: Tensor2D, saved: Tensor[]) =>
        tf.tidy(() => {
          const [sf, sw, si] = saved as [Tensor, Tensor, Tensor];
          const [drows, dw] = engine.runKernel(
            ROUTED_RESIDUAL_BACKWARD,
            { dy, rows: sf, weights: sw, indices: si },
            {},
          ) as [Tensor2D, Tensor1D];
          const [dsel, ...dparams] = ownBlockBackward(
            drows,
            saved.slice(3),
            shape,
            params.mlp !== undefined,
          );
          // dx = dy + scatter(dX~): the epilogue's kernel with unit weights.
          const [dx] = engine.runKernel(
            ROUTED_RESIDUAL_FORWARD,
            { x: dy, rows: dsel!, weights: tf.onesLike(sw), indices: si },
            {},
          ) as Tensor[];
          return [dx!, dw, ...dparams];
        }),
    };
  }) as never) as unknown as (...xs: Tensor[]) => Tensor2D;
  return op(x, weights, ...blockParamList(params));
}
