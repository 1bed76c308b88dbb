// The safetensors dtypes (safetensors.ts has the format): their sizes, typed arrays and
// little-endian accessors, and the host tensor they decode to.

/** safetensors dtypes this module reads and writes. */
export type SafetensorsDtype = 'F64' | 'F32' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32' | 'BOOL';

export type HostArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array;

/** A tensor in host memory: dtype, shape and row-major data (length = product of shape). */
export interface HostTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: HostArray;
}

export interface DtypeInfo {
  readonly bytes: number;
  readonly make: (buffer: ArrayBuffer, length: number) => HostArray;
  readonly set: (view: DataView, offset: number, value: number) => void;
  readonly get: (view: DataView, offset: number) => number;
}

export const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  F64: {
    bytes: 8,
    make: (b, n) => new Float64Array(b, 0, n),
    set: (d, o, x) => d.setFloat64(o, x, true),
    get: (d, o) => d.getFloat64(o, true),
  },
  F32: {
    bytes: 4,
    make: (b, n) => new Float32Array(b, 0, n),
    set: (d, o, x) => d.setFloat32(o, x, true),
    get: (d, o) => d.getFloat32(o, true),
  },
  I32: {
    bytes: 4,
    make: (b, n) => new Int32Array(b, 0, n),
    set: (d, o, x) => d.setInt32(o, x, true),
    get: (d, o) => d.getInt32(o, true),
  },
  U32: {
    bytes: 4,
    make: (b, n) => new Uint32Array(b, 0, n),
    set: (d, o, x) => d.setUint32(o, x, true),
    get: (d, o) => d.getUint32(o, true),
  },
  I16: {
    bytes: 2,
    make: (b, n) => new Int16Array(b, 0, n),
    set: (d, o, x) => d.setInt16(o, x, true),
    get: (d, o) => d.getInt16(o, true),
  },
  U16: {
    bytes: 2,
    make: (b, n) => new Uint16Array(b, 0, n),
    set: (d, o, x) => d.setUint16(o, x, true),
    get: (d, o) => d.getUint16(o, true),
  },
  I8: {
    bytes: 1,
    make: (b, n) => new Int8Array(b, 0, n),
    set: (d, o, x) => d.setInt8(o, x),
    get: (d, o) => d.getInt8(o),
  },
  U8: {
    bytes: 1,
    make: (b, n) => new Uint8Array(b, 0, n),
    set: (d, o, x) => d.setUint8(o, x),
    get: (d, o) => d.getUint8(o),
  },
  BOOL: {
    bytes: 1,
    make: (b, n) => new Uint8Array(b, 0, n),
    set: (d, o, x) => d.setUint8(o, x ? 1 : 0),
    get: (d, o) => d.getUint8(o),
  },
};

/** Largest header accepted (the reference implementation's limit, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export const METADATA = '__metadata__';

/** Whether typed arrays are little-endian here (then data is copied as bytes, not per value). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
