// Split and concatenation along the outermost axis, differentiable, each the other's gradient.
// Axis legend: S the outer axis (split into n equal parts), F the remaining axes.
//
// wasm's Slice, SplitV and Concat read every input back into JavaScript first, however small the
// slice (docs/performance.md, "Backend facts"). Along the outermost axis every part is one
// contiguous block, so on wasm two small kernels copy the blocks inside the wasm heap instead.
// Other backends use tf.split and tf.concat.
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';
import { ShapeError } from '../errors.js';
import { prefersExplicitTranspose, type WasmHeapBackend } from './matmul.js';

/** Kernel names of the wasm implementations. */
export const SPLIT_OUTER = 'ModerouteSplitOuter';
/** Kernel name of the wasm concatenation along the outermost axis. */
export const CONCAT_OUTER = 'ModerouteConcatOuter';
/** Kernel name of the wasm concatenation of flat parts. */
export const CONCAT_FLAT = 'ModerouteConcatFlat';
/** Kernel name of the wasm split into flat parts. */
export const SPLIT_FLAT = 'ModerouteSplitFlat';

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

/** The inputs of a kernel whose inputs are numbered "0", "1", ..., in order. */
export function numberedInputs(inputs: NamedTensorInfoMap): TensorInfo[] {
  return Object.keys(inputs)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => inputs[k] as TensorInfo);
}

/** Copies consecutive blocks of x's data into `outs` (allocated before: a growing heap detaches views). */
function copyBlocks(be: WasmHeapBackend, x: TensorInfo, outs: TensorInfo[]): TensorInfo[] {
  const src = be.typedArrayFromHeap(x);
  let offset = 0;
  for (const o of outs) {
    const dst = be.typedArrayFromHeap(o);
    dst.set(src.subarray(offset, offset + dst.length));
    offset += dst.length;
  }
  return outs;
}

function splitOuterKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const be = backend as WasmHeapBackend;
  const x = inputs['x'] as TensorInfo;
  const { sizes } = attrs as { sizes: number[] };
  // Allocate first: a growing heap detaches views taken before.
  const outs = sizes.map((s) => be.makeOutput([s, ...x.shape.slice(1)], 'float32'));
  return copyBlocks(be, x, outs);
}

function concatOuterKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const be = backend as WasmHeapBackend;
  const parts = numberedInputs(inputs);
  const rows = parts.reduce((s, p) => s + (p.shape[0] as number), 0);
  const out = be.makeOutput([rows, ...(parts[0] as TensorInfo).shape.slice(1)], 'float32');
  const dst = be.typedArrayFromHeap(out);
  let offset = 0;
  for (const p of parts) {
    const src = be.typedArrayFromHeap(p);
    dst.set(src, offset);
    offset += src.length;
  }
  return out;
}

/** wasm: tensors of any shapes -> float32[sum of sizes], their row-major values one after another. */
function concatFlatKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const be = backend as WasmHeapBackend;
  const parts = numberedInputs(inputs);
  const out = be.makeOutput(
    [parts.reduce((s, p) => s + tf.util.sizeFromShape(p.shape), 0)],
    'float32',
  );
  const dst = be.typedArrayFromHeap(out);
  let offset = 0;
  for (const p of parts) {
    const src = be.typedArrayFromHeap(p);
    dst.set(src, offset);
    offset += src.length;
  }
  return out;
}

/** wasm: float32[N] -> consecutive blocks of it, as tensors of the given shapes. */
function splitFlatKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const be = backend as WasmHeapBackend;
  const x = inputs['x'] as TensorInfo;
  const { shapes } = attrs as unknown as { shapes: number[][] };
  const outs = shapes.map((shape) => be.makeOutput(shape, 'float32'));
  return copyBlocks(be, x, outs);
}

if (tf.getKernel(CONCAT_FLAT, 'wasm') === undefined) {
  tf.registerKernel({
    kernelName: CONCAT_FLAT,
    backendName: 'wasm',
    kernelFunc: concatFlatKernel as never,
  });
  tf.registerKernel({
    kernelName: SPLIT_FLAT,
    backendName: 'wasm',
    kernelFunc: splitFlatKernel as never,
  });
  tf.registerGradient({
    kernelName: CONCAT_FLAT,
    inputsToSave: [],
    gradFunc: (dy, _saved, attrs) => {
      const parts = splitFlat(dy as Tensor, (attrs as unknown as { shapes: number[][] }).shapes);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  });
  tf.registerGradient({
    kernelName: SPLIT_FLAT,
    gradFunc: (dy) => ({ x: () => concatFlat(dy as Tensor[]) }),
  });
}

if (tf.getKernel(SPLIT_OUTER, 'wasm') === undefined) {
  tf.registerKernel({
    kernelName: SPLIT_OUTER,
    backendName: 'wasm',
    kernelFunc: splitOuterKernel as never,
  });
  tf.registerKernel({
    kernelName: CONCAT_OUTER,
    backendName: 'wasm',
    kernelFunc: concatOuterKernel as never,
  });
  tf.registerGradient({
    kernelName: SPLIT_OUTER,
    gradFunc: (dy) => ({ x: () => concatOuter(dy as Tensor[]) }),
  });
  tf.registerGradient({
    kernelName: CONCAT_OUTER,
    gradFunc: (dy, _saved, attrs) => {
      const parts = splitOuterSizes(dy as Tensor, (attrs as unknown as { sizes: number[] }).sizes);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  });
}

function useKernels(t: Tensor): boolean {
  return prefersExplicitTranspose() && t.dtype === 'float32';
}

/**
 * Consecutive blocks of the outer axis: float32[S, ...F] -> n x float32[S/n, ...F] for a count
 * n, or float32[sizes[i], ...F] for a list of sizes summing to S.
 */
export function splitOuter(x: Tensor, nOrSizes: number | readonly number[]): Tensor[] {
  const s = x.rank < 1 ? Number.NaN : (x.shape[0] as number);
  const sizes =
    typeof nOrSizes === 'number' ? new Array<number>(nOrSizes).fill(s / nOrSizes) : [...nOrSizes];
  if (
    x.rank < 1 ||
    sizes.length < 1 ||
    !sizes.every((n) => Number.isInteger(n) && n >= 0) ||
    sizes.reduce((a, b) => a + b, 0) !== s
  ) {
    throw new ShapeError(
      'x.shape',
      x.shape,
      `of rank >= 1 with an outer axis that splits into ${JSON.stringify(nOrSizes)}`,
    );
  }
  return splitOuterSizes(x, sizes);
}

function splitOuterSizes(x: Tensor, sizes: number[]): Tensor[] {
  if (sizes.length === 1) return [x];
  if (!useKernels(x)) return tf.split(x, sizes, 0);
  return tf.engine().runKernel(SPLIT_OUTER, { x }, { sizes }) as Tensor[];
}

/** n x float32[S_i, ...F] -> float32[sum S_i, ...F]. */
export function concatOuter(parts: Tensor[]): Tensor {
  const first = parts[0];
  if (first === undefined) throw new ShapeError('parts', '[]', 'at least one tensor');
  for (const p of parts) {
    if (p.rank !== first.rank || !tf.util.arraysEqual(p.shape.slice(1), first.shape.slice(1))) {
      throw new ShapeError('parts[i].shape', p.shape, `[S_i, ${first.shape.slice(1).join(', ')}]`);
    }
  }
  if (parts.length === 1) return first;
  if (!parts.every(useKernels)) return tf.concat(parts, 0);
  const inputs = Object.fromEntries(parts.map((p, i) => [String(i), p]));
  return tf
    .engine()
    .runKernel(CONCAT_OUTER, inputs, { sizes: parts.map((p) => p.shape[0] as number) }) as Tensor;
}

/**
 * Tensors of any shapes -> float32[sum of sizes]: each one's values in row-major order, one after
 * another (tf.concat of the flattened tensors, without a Reshape per tensor on wasm).
 */
export function concatFlat(parts: Tensor[]): Tensor {
  if (parts.length === 0) throw new ShapeError('parts', '[]', 'at least one tensor');
  if (parts.length === 1) return tf.reshape(parts[0] as Tensor, [(parts[0] as Tensor).size]);
  if (!parts.every(useKernels))
    return tf.tidy(() =>
      tf.concat(
        parts.map((p) => tf.reshape(p, [p.size])),
        0,
      ),
    );
  const inputs = Object.fromEntries(parts.map((p, i) => [String(i), p]));
  return tf
    .engine()
    .runKernel(CONCAT_FLAT, inputs, { shapes: parts.map((p) => [...p.shape]) } as never) as Tensor;
}

/** float32[N] -> consecutive blocks as tensors of `shapes` (sizes summing to N); concatFlat's inverse. */
export function splitFlat(x: Tensor, shapes: readonly (readonly number[])[]): Tensor[] {
  const sizes = shapes.map((s) => tf.util.sizeFromShape(s as number[]));
  if (x.rank !== 1 || shapes.length < 1 || sizes.reduce((a, b) => a + b, 0) !== x.size) {
    throw new ShapeError(
      'x.shape',
      x.shape,
      `[N] with N the total size of ${JSON.stringify(shapes)}`,
    );
  }
  if (shapes.length === 1) return [tf.reshape(x, shapes[0] as number[])];
  if (!useKernels(x))
    return tf.tidy(() => tf.split(x, sizes, 0).map((p, i) => tf.reshape(p, shapes[i] as number[])));
  return tf
    .engine()
    .runKernel(SPLIT_FLAT, { x }, { shapes: shapes.map((s) => [...s]) } as never) as Tensor[];
}
