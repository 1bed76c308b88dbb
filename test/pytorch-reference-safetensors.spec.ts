// The PyTorch reference (docs/reference/safetensors_reader.py) reads every dtype of the
// safetensors format, F16 and BF16 included (docs/model-format.md, "Tensors"). Runs where
// Debian's python3 has torch and numpy; says so and skips elsewhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON, REFERENCE_DIR, skipWithoutTorch } from './pytorchReferenceModels.js';

/** A safetensors file by hand: each tensor's dtype, shape and little-endian bytes. */
function safetensorsFile(tensors: Record<string, [string, number[], Uint8Array]>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, [dtype, shape, bytes]] of Object.entries(tensors)) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, , bytes] of Object.values(tensors)) {
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('docs/reference/safetensors_reader.py', function () {
  let dir = '';
  before(function () {
    skipWithoutTorch(this);
    dir = mkdtempSync(join(tmpdir(), 'moderoute-pt-dtypes-'));
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('should read every safetensors dtype', () => {
    const values = [1.5, -2.25, 0, 3];
    const f32 = new Float32Array(values);
    // F16 1.5, -2.25, 0, 3 and BF16 (the upper halves of the float32 bits).
    const f16 = new Uint16Array([0x3e00, 0xc080, 0x0000, 0x4200]);
    const bf16 = Uint16Array.from(new Uint32Array(f32.buffer), (bits) => bits >>> 16);
    const file = join(dir, 'dtypes.safetensors');
    writeFileSync(
      file,
      safetensorsFile({
        F64: ['F64', [2, 2], bytesOf(new Float64Array(values))],
        F32: ['F32', [4], bytesOf(f32)],
        F16: ['F16', [4], bytesOf(f16)],
        BF16: ['BF16', [4], bytesOf(bf16)],
        I64: ['I64', [4], bytesOf(new BigInt64Array([-5n, 0n, 7n, 1n << 40n]))],
        I32: ['I32', [4], bytesOf(new Int32Array([-5, 0, 7, 9]))],
        I16: ['I16', [4], bytesOf(new Int16Array([-5, 0, 7, 9]))],
        I8: ['I8', [4], bytesOf(new Int8Array([-5, 0, 7, 9]))],
        U64: ['U64', [1], bytesOf(new BigUint64Array([1n << 40n]))],
        U32: ['U32', [4], bytesOf(new Uint32Array([5, 0, 7, 4000000000]))],
        U16: ['U16', [4], bytesOf(new Uint16Array([5, 0, 7, 65535]))],
        U8: ['U8', [4], bytesOf(new Uint8Array([5, 0, 7, 255]))],
        BOOL: ['BOOL', [4], new Uint8Array([1, 0, 0, 1])],
      }),
    );
    const read = JSON.parse(
      execFileSync(
        PYTHON,
        [
          '-c',
          'import json, sys; sys.path.insert(0, sys.argv[1]); ' +
            'from safetensors_reader import load_safetensors; ' +
            'print(json.dumps({k: v.tolist() for k, v in load_safetensors(sys.argv[2]).items()}))',
          REFERENCE_DIR,
          file,
        ],
        { encoding: 'utf8' },
      ),
    ) as Record<string, unknown>;
    assert.deepEqual(read, {
      F64: [
        [1.5, -2.25],
        [0, 3],
      ],
      F32: values,
      F16: values,
      BF16: values,
      I64: [-5, 0, 7, 2 ** 40],
      I32: [-5, 0, 7, 9],
      I16: [-5, 0, 7, 9],
      I8: [-5, 0, 7, 9],
      U64: [2 ** 40],
      U32: [5, 0, 7, 4000000000],
      U16: [5, 0, 7, 65535],
      U8: [5, 0, 7, 255],
      BOOL: [true, false, false, true],
    });
  });
});
