// Conversions between tfjs tensors and host tensors (typed arrays with a safetensors dtype).
import { tf, type Tensor } from '@moderoute/core';
import { CheckpointError } from '../errors.js';
import type { HostTensor, SafetensorsDtype } from './safetensors.js';

/** Reads tensors into host memory: float32 -> F32, int32 -> I32, bool -> BOOL. */
export async function toHostTensors(
  tensors: ReadonlyMap<string, Tensor>,
  file = 'checkpoint',
): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    const data = await t.data();
    let dtype: SafetensorsDtype;
    switch (t.dtype) {
      case 'float32':
        dtype = 'F32';
        break;
      case 'int32':
        dtype = 'I32';
        break;
      case 'bool':
        dtype = 'BOOL';
        break;
      default:
        throw new CheckpointError(
          file,
          'unsupported',
          `cannot store tensor "${name}" of dtype ${t.dtype} (float32, int32 and bool are supported)`,
        );
    }
    out.set(name, {
      dtype,
      shape: [...t.shape],
      data: data as Float32Array | Int32Array | Uint8Array,
    });
  }
  return out;
}

/** A tfjs tensor from a host tensor: floats -> float32, integers -> int32, BOOL -> bool. */
export function fromHostTensor(h: HostTensor): Tensor {
  const shape = [...h.shape];
  switch (h.dtype) {
    case 'F32':
    case 'F64':
      return tf.tensor(
        h.data instanceof Float32Array ? h.data : Float32Array.from(h.data),
        shape,
        'float32',
      );
    case 'BOOL':
      return tf.tensor(h.data as Uint8Array, shape, 'bool');
    default:
      return tf.tensor(
        h.data instanceof Int32Array ? h.data : Int32Array.from(h.data),
        shape,
        'int32',
      );
  }
}

/** fromHostTensor over a map (the caller disposes the tensors). */
export function fromHostTensors(map: ReadonlyMap<string, HostTensor>): Map<string, Tensor> {
  return new Map([...map].map(([name, h]) => [name, fromHostTensor(h)]));
}
