// The plain TF.js peer of `moderoute bench`: the bench config's decoder-only language model
// (dense) written the way a TF.js user would write it, with tfjs ops, tfjs's own gradients and
// tf.train.adam, and nothing of moderoute's (no custom kernels or gradients): its own process, its
// own tfjs (the @tensorflow/tfjs package, which registers tfjs's gradients and chained ops), the
// wasm backend as tfjs sets it up in Node (SIMD, one thread).
//
// The model follows bench/peer/torch_tiny_lm.py: vocabulary 256, width 128, 4 pre-norm blocks of
// 4-head causal attention and a 4x GELU MLP (exact, erf form), sequence 128, batch 8, a final
// layer norm and a linear head. The embedding is a one-hot product: tf.gather's gradient needs
// UnsortedSegmentSum, which the wasm backend does not have.
//
// It is a step server (packages/experiments/src/bench/peers/stepServer.ts): it reads `hello`,
// `new dense`, `step dense` and `memory` lines on stdin and answers each with one JSON line.
//
//   node tfjs_tiny_lm.mjs            (then e.g. `new dense`, `step dense`, ... on stdin)
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const [VOCAB, WIDTH, LAYERS, HEADS, SEQ, BATCH, MLP_RATIO] = [256, 128, 4, 4, 128, 8, 4];
const HEAD = WIDTH / HEADS;

const weight = (rows, cols) => tf.variable(tf.randomNormal([rows, cols], 0, 0.02));
const zeros = (n) => tf.variable(tf.zeros([n]));
const ones = (n) => tf.variable(tf.ones([n]));

function layerNorm(x, norm) {
  const { mean, variance } = tf.moments(x, -1, true);
  return x
    .sub(mean)
    .mul(tf.rsqrt(variance.add(1e-5)))
    .mul(norm.gain)
    .add(norm.bias);
}

const gelu = (x) => x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));

const linear = (x, layer) => tf.matMul(x, layer.w).add(layer.b);

function block(x, p, mask) {
  // x: [B*T, D]. Attention: [B*T, 3D] -> 3 x [B, H, T, D/H].
  const qkv = linear(layerNorm(x, p.normAttn), p.qkv);
  const [q, k, v] = tf
    .split(qkv, 3, -1)
    .map((t) => t.reshape([BATCH, SEQ, HEADS, HEAD]).transpose([0, 2, 1, 3]));
  const scores = tf
    .matMul(q, k, false, true)
    .mul(1 / Math.sqrt(HEAD))
    .add(mask);
  const attended = tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]);
  const attn = linear(attended.reshape([BATCH * SEQ, WIDTH]), p.out);
  const h = x.add(attn);
  const mlp = linear(gelu(linear(layerNorm(h, p.normMlp), p.up)), p.down);
  return h.add(mlp);
}

class TinyLanguageModel {
  constructor() {
    const norm = () => ({ gain: ones(WIDTH), bias: zeros(WIDTH) });
    const lin = (i, o) => ({ w: weight(i, o), b: zeros(o) });
    this.embed = weight(VOCAB, WIDTH);
    this.position = weight(SEQ, WIDTH);
    this.blocks = Array.from({ length: LAYERS }, () => ({
      normAttn: norm(),
      qkv: lin(WIDTH, 3 * WIDTH),
      out: lin(WIDTH, WIDTH),
      normMlp: norm(),
      up: lin(WIDTH, MLP_RATIO * WIDTH),
      down: lin(MLP_RATIO * WIDTH, WIDTH),
    }));
    this.norm = norm();
    this.head = lin(WIDTH, VOCAB);
    // 0 on and below the diagonal, -1e9 above: a causal mask added to the scores.
    this.mask = tf.tidy(() =>
      tf.linalg
        .bandPart(tf.ones([SEQ, SEQ]), 0, -1)
        .sub(tf.eye(SEQ))
        .mul(-1e9),
    );
    this.optimizer = tf.train.adam(1e-3);
    this.inputs = tf.randomUniform([BATCH, SEQ], 0, VOCAB, 'int32', 1);
    this.targets = tf.randomUniform([BATCH, SEQ], 0, VOCAB, 'int32', 2);
  }

  loss() {
    const ids = this.inputs.reshape([BATCH * SEQ]);
    let x = tf.matMul(tf.oneHot(ids, VOCAB, 1, 0, 'float32'), this.embed);
    x = x
      .reshape([BATCH, SEQ, WIDTH])
      .add(this.position)
      .reshape([BATCH * SEQ, WIDTH]);
    for (const p of this.blocks) x = block(x, p, this.mask);
    const logits = linear(layerNorm(x, this.norm), this.head);
    const labels = tf.oneHot(this.targets.reshape([BATCH * SEQ]), VOCAB, 1, 0, 'float32');
    return tf.losses.softmaxCrossEntropy(labels, logits);
  }

  /** One training step; its milliseconds. */
  step() {
    const start = performance.now();
    const loss = this.optimizer.minimize(() => this.loss(), true);
    loss.dataSync();
    loss.dispose();
    return performance.now() - start;
  }

  dispose() {
    this.optimizer.dispose();
    tf.dispose([this.mask, this.inputs, this.targets]);
    // The optimizer's variables are disposed with it; the model's are all that are left.
    tf.disposeVariables();
  }
}

function memory() {
  const heap = tf.backend().wasm?.HEAPU8?.buffer?.byteLength;
  return {
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...(heap !== undefined ? { wasmHeapMb: heap / 2 ** 20 } : {}),
  };
}

await tf.setBackend('wasm');
await tf.ready();
let model;
for await (const line of createInterface({ input: process.stdin })) {
  const words = line.trim().split(/\s+/);
  let answer;
  try {
    if (words[0] === 'hello') answer = { tfjs: tf.version.tfjs, backend: tf.getBackend() };
    else if (words[0] === 'new' && words[1] === 'dense') {
      model?.dispose();
      model = new TinyLanguageModel();
      answer = { ok: true };
    } else if (words[0] === 'step' && words[1] === 'dense' && model) answer = { ms: model.step() };
    else if (words[0] === 'memory') answer = memory();
    else answer = { error: `unknown request: ${line.trim()}` };
  } catch (error) {
    answer = { error: error instanceof Error ? error.message : String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
model?.dispose();
