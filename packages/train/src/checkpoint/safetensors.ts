// The safetensors format (Hugging Face, https://github.com/huggingface/safetensors), read and
// written without dependencies, so that PyTorch and JAX users can load moderoute weights with
// `safetensors.torch.load_file`.
//
// Layout: 8 bytes N (uint64, little-endian); N bytes of UTF-8 JSON header; the data buffer. The
// header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into
// the data buffer, end exclusive) and may hold "__metadata__": a map of string to string. Data is
// little-endian, row-major (C order). The buffer must be covered exactly by the tensors, with no
// holes or overlaps. Writers here sort tensors by name and pad the header with spaces to a
// multiple of 8 bytes, as the reference implementation does.
//
// No npm package fitted: the only one on the registry named for the format (`safetensors`
// 0.0.1) is a two-year-old untyped stub. The format is small; readers here check every rule.
import { CheckpointError } from '../errors.js';

import {
  DTYPES,
  LITTLE_ENDIAN,
  MAX_HEADER_BYTES,
  METADATA,
  numel,
  type HostTensor,
  type SafetensorsDtype,
} from './safetensorsDtypes.js';

export { MAX_HEADER_BYTES, type HostTensor, type SafetensorsDtype } from './safetensorsDtypes.js';

/**
 * Encodes tensors (sorted by name) and optional string metadata as a safetensors file.
 * `file` names the destination in errors.
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, HostTensor>,
  metadata: Readonly<Record<string, string>> = {},
  file = 'safetensors',
): Uint8Array {
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // A null-prototype object: tensor names such as "__proto__" stay plain keys.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new CheckpointError(
          file,
          'unsupported',
          `metadata "${k}" is a ${typeof v}; safetensors metadata values must be strings`,
        );
    }
    header[METADATA] = Object.fromEntries(Object.entries(metadata));
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA)
      throw new CheckpointError(file, 'unsupported', `cannot hold a tensor named "${METADATA}"`);
    const t = tensors.get(name) as HostTensor;
    const info = DTYPES[t.dtype];
    if (info === undefined)
      throw new CheckpointError(
        file,
        'unsupported',
        `tensor "${name}" has dtype ${String(t.dtype)}; supported: ${Object.keys(DTYPES).join(', ')}`,
      );
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new CheckpointError(
        file,
        'unsupported',
        `tensor "${name}" has shape [${t.shape.join(', ')}]`,
      );
    const n = numel(t.shape);
    if (t.data.length !== n)
      throw new CheckpointError(
        file,
        'unsupported',
        `tensor "${name}" has ${t.data.length} values for shape [${t.shape.join(', ')}] (${n})`,
      );
    header[name] = {
      dtype: t.dtype,
      shape: [...t.shape],
      data_offsets: [offset, offset + n * info.bytes],
    };
    offset += n * info.bytes;
  }
  let json = JSON.stringify(header);
  const raw = new TextEncoder().encode(json);
  const padded = Math.ceil(raw.length / 8) * 8;
  json += ' '.repeat(padded - raw.length);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name) as HostTensor;
    const info = DTYPES[t.dtype];
    const begin = base + (header[name] as { data_offsets: [number, number] }).data_offsets[0];
    if (LITTLE_ENDIAN && t.data.constructor === info.make(new ArrayBuffer(0), 0).constructor)
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), begin);
    else
      for (let i = 0; i < t.data.length; i++)
        info.set(view, begin + i * info.bytes, t.data[i] as number);
  }
  return out;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  readonly tensors: Map<string, HostTensor>;
  readonly metadata: Record<string, string>;
}

/**
 * Decodes a safetensors file, checking every rule of the format: header length within the file
 * and the 100 MB limit, a JSON object header, known dtypes, integer shapes, offsets that match
 * each shape and tile the data buffer exactly. `file` names the source in errors.
 */
export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): SafetensorsFile {
  const corrupt = (detail: string) => new CheckpointError(file, 'corrupt', detail);
  if (bytes.length < 8)
    throw new CheckpointError(
      file,
      'truncated',
      `is truncated: ${bytes.length} bytes, shorter than the 8-byte header length`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES))
    throw corrupt(
      `has a header length of ${n64} bytes, over the ${MAX_HEADER_BYTES}-byte limit ` +
        `(not a safetensors file, or a damaged one)`,
    );
  const n = Number(n64);
  if (8 + n > bytes.length)
    throw new CheckpointError(
      file,
      'truncated',
      `is truncated: the header says ${n} bytes of JSON, but only ${bytes.length - 8} bytes follow`,
    );
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    throw corrupt(
      `has a header that is not valid UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw corrupt('has a header that is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metaEntries: [string, string][] = [];
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, HostTensor>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA) {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
        throw corrupt(`has "${METADATA}" that is not an object`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(`has metadata "${k}" that is not a string`);
        metaEntries.push([k, v]);
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object')
      throw corrupt(`has an entry for "${name}" that is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPES)) {
      throw new CheckpointError(
        file,
        typeof e.dtype === 'string' ? 'unsupported' : 'corrupt',
        `has tensor "${name}" with dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(DTYPES).join(', ')}`,
      );
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw corrupt(
        `has tensor "${name}" with shape ${JSON.stringify(e.shape)}, not a list of integers >= 0`,
      );
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0)
    ) {
      throw corrupt(
        `has tensor "${name}" with data_offsets ${JSON.stringify(offsets)}, not [begin, end]`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const info = DTYPES[dtype];
    const count = numel(shape);
    if (end - begin !== count * info.bytes)
      throw corrupt(
        `has tensor "${name}" with data_offsets [${begin}, ${end}] (${end - begin} ` +
          `bytes) for ${dtype}[${shape.join(', ')}] (${count * info.bytes} bytes)`,
      );
    if (end > dataLength)
      throw new CheckpointError(
        file,
        'truncated',
        `is truncated: tensor "${name}" ends at data byte ${end}, but the data buffer has ${dataLength} bytes`,
      );
    spans.push({ name, begin, end });
    const buffer = new ArrayBuffer(count * info.bytes);
    const data = info.make(buffer, count);
    const at = dataStart + begin;
    if (LITTLE_ENDIAN) new Uint8Array(buffer).set(bytes.subarray(at, at + count * info.bytes));
    else for (let i = 0; i < count; i++) data[i] = info.get(view, at + i * info.bytes);
    tensors.set(name, { dtype, shape, data });
  }
  // The tensors must tile [0, dataLength) exactly: no holes, no overlaps, nothing after.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin !== covered)
      throw corrupt(
        s.begin < covered
          ? `has tensor "${s.name}" overlapping another at data byte ${s.begin}`
          : `has a hole in its data buffer at bytes [${covered}, ${s.begin})`,
      );
    covered = s.end;
  }
  if (covered !== dataLength)
    throw corrupt(
      `has ${dataLength - covered} bytes after the last tensor (the data buffer is ` +
        `${dataLength} bytes, the tensors cover ${covered})`,
    );
  return { tensors, metadata: Object.fromEntries(metaEntries) };
}
