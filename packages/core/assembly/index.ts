// The module of core's own wasm kernels (src/primitives/ownKernels.ts loads it): every kernel's
// functions, exported from one module so that one instance per backend memory serves them all.
export { layerNormForward, layerNormBackward } from './layerNorm';
export { geluForward, geluBackward } from './gelu';
export { attentionForward, attentionBackward } from './attention';
export { attentionQkvForward, attentionQkvBackward } from './attentionQkv';
export { routedResidualForward, routedResidualBackward } from './routedResidual';
export { matVecForward, matVecBackward } from './matVec';
export { adamwUpdate } from './adamw';
export { gemm, columnSums } from './gemm';
export { sumOfSquaresAdd } from './sumOfSquares';
export { transposeSwap, transposeBlocks, copyFloats } from './transpose';
export { crossEntropyForward, crossEntropyBackward } from './crossEntropy';
export { scaleInto, addScaled } from './weightedSum';
export { scatterAddRows } from './rows';
