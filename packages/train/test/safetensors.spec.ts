import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runs } from '@moderoute/testing';
import {
  CheckpointError,
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  type SafetensorsDtype,
} from '../src/index.js';

/** A safetensors file built by hand, byte by byte, from the format description. */
function fixture(header: string, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  // uint64 little-endian header length (small: the low byte and the next one suffice).
  out[0] = json.length & 0xff;
  out[1] = (json.length >> 8) & 0xff;
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const HEADER =
  '{"__metadata__":{"format":"pt"},' +
  '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
  '"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}';
// a = [1, -2] as float32 LE (0x3f800000, 0xc0000000); b = 7 as int32 LE.
const DATA = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x07, 0x00, 0x00, 0x00];

const isError = (problem: string, pattern: RegExp) => (e: unknown) =>
  e instanceof CheckpointError && e.problem === problem && pattern.test(e.message);

describe('safetensors', () => {
  describe('decodeSafetensors', () => {
    it('should read a hand-built file (golden)', () => {
      const { tensors, metadata } = decodeSafetensors(fixture(HEADER, DATA));
      assert.deepEqual(metadata, { format: 'pt' });
      assert.deepEqual(tensors.get('a'), {
        dtype: 'F32',
        shape: [2],
        data: Float32Array.of(1, -2),
      });
      assert.deepEqual(tensors.get('b'), { dtype: 'I32', shape: [], data: Int32Array.of(7) });
    });

    it('should say a file is truncated, wherever it is cut', () => {
      const bytes = fixture(HEADER, DATA);
      for (const cut of [0, 5, 8, 20, bytes.length - 12, bytes.length - 1]) {
        assert.throws(
          () => decodeSafetensors(bytes.subarray(0, cut), 'model.safetensors'),
          isError('truncated', /model\.safetensors is truncated/),
          `cut at ${cut}`,
        );
      }
    });

    it('should say a flipped header byte makes the header invalid', () => {
      const bytes = fixture(HEADER, DATA);
      bytes[8] = '['.charCodeAt(0); // '{' -> '['
      assert.throws(
        () => decodeSafetensors(bytes, 'x.safetensors'),
        isError('corrupt', /x\.safetensors has a header that is not valid UTF-8 JSON/),
      );
      const big = fixture(HEADER, DATA);
      big[7] = 0x80; // header length bit flipped to 2^63 + n
      assert.throws(
        () => decodeSafetensors(big),
        isError('corrupt', /over the 100000000-byte limit/),
      );
    });

    it('should refuse holes, overlaps, trailing bytes, wrong sizes and unknown dtypes', () => {
      const hole = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
      assert.throws(
        () => decodeSafetensors(fixture(hole, DATA.slice(0, 8))),
        isError('corrupt', /hole in its data buffer at bytes \[0, 4\)/),
      );
      const overlap =
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[],"data_offsets":[4,8]}}';
      assert.throws(
        () => decodeSafetensors(fixture(overlap, DATA.slice(0, 8))),
        isError('corrupt', /"b" overlapping another/),
      );
      assert.throws(
        () => decodeSafetensors(fixture(HEADER, [...DATA, 0])),
        isError('corrupt', /1 bytes after the last tensor/),
      );
      const size = '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}';
      assert.throws(
        () => decodeSafetensors(fixture(size, DATA.slice(0, 8))),
        isError('corrupt', /F32\[3\] \(12 bytes\)/),
      );
      const bf16 = '{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}';
      assert.throws(
        () => decodeSafetensors(fixture(bf16, DATA.slice(0, 8))),
        isError('unsupported', /dtype "BF16"; supported: /),
      );
    });
  });

  describe('encodeSafetensors', () => {
    it('should write the hand-built file, header padded with spaces to 8 bytes (golden)', () => {
      const tensors = new Map<string, HostTensor>([
        ['b', { dtype: 'I32', shape: [], data: Int32Array.of(7) }],
        ['a', { dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) }],
      ]);
      const padded = HEADER + ' '.repeat((8 - (HEADER.length % 8)) % 8);
      assert.deepEqual(encodeSafetensors(tensors, { format: 'pt' }), fixture(padded, DATA));
    });

    it('should round-trip random tensors of every dtype', () => {
      const dtypes: SafetensorsDtype[] = [
        'F64',
        'F32',
        'I32',
        'I16',
        'I8',
        'U8',
        'U16',
        'U32',
        'BOOL',
      ];
      const make: Record<SafetensorsDtype, (xs: number[]) => HostTensor['data']> = {
        F64: (xs) => Float64Array.from(xs),
        F32: (xs) => Float32Array.from(xs),
        I32: (xs) => Int32Array.from(xs),
        I16: (xs) => Int16Array.from(xs),
        I8: (xs) => Int8Array.from(xs),
        U8: (xs) => Uint8Array.from(xs),
        U16: (xs) => Uint16Array.from(xs),
        U32: (xs) => Uint32Array.from(xs),
        BOOL: (xs) => Uint8Array.from(xs.map((x) => (x > 0 ? 1 : 0))),
      };
      const tensor = fc
        .tuple(
          fc.constantFrom(...dtypes),
          fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
          fc.nat(),
        )
        .map(([dtype, shape, seed]): HostTensor => {
          const n = shape.reduce((a, b) => a * b, 1);
          const xs = Array.from(
            { length: n },
            (_, i) => (((seed + i * 7919) % 255) - 100) * (dtype.startsWith('F') ? 0.37 : 1),
          );
          return { dtype, shape, data: make[dtype](xs) };
        });
      fc.assert(
        fc.property(
          fc.dictionary(
            fc
              .oneof(fc.constant('__proto__'), fc.string({ minLength: 1, maxLength: 6 }))
              .filter((s) => s !== '__metadata__'),
            tensor,
            { maxKeys: 5 },
          ),
          fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
          (dict, metadata) => {
            const tensors = new Map(Object.entries(dict));
            const decoded = decodeSafetensors(encodeSafetensors(tensors, metadata));
            assert.deepEqual(decoded.tensors, tensors);
            assert.deepEqual(decoded.metadata, Object.fromEntries(Object.entries(metadata)));
          },
        ),
        runs(100),
      );
    });

    it('should refuse data whose length does not match the shape', () => {
      const bad = new Map<string, HostTensor>([
        ['a', { dtype: 'F32', shape: [3], data: Float32Array.of(1) }],
      ]);
      assert.throws(
        () => encodeSafetensors(bad, {}, 'model.safetensors'),
        isError('unsupported', /"a" has 1 values for shape \[3\] \(3\)/),
      );
    });
  });
});
