// Byte-level tokenisation: a token is one UTF-8 byte, so the vocabulary is exactly 256 and every
// text (in any language) round-trips without an out-of-vocabulary symbol.

/** Vocabulary size of byte-level tokens. */
export const BYTE_VOCAB_SIZE = 256;

const encoder = new TextEncoder();

/** UTF-8 bytes of a string: the token ids. */
export function encodeBytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes token ids (bytes) to text; invalid UTF-8 sequences become U+FFFD. */
export function decodeBytes(tokens: ArrayLike<number>): string {
  const bytes =
    tokens instanceof Uint8Array ? tokens : Uint8Array.from(tokens as ArrayLike<number>);
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

/**
 * Bits per byte from a mean cross-entropy in nats per byte token: bpb = nats / ln 2. With byte
 * tokens, bits per token and bits per byte are the same number.
 */
export function bitsPerByte(natsPerToken: number): number {
  return natsPerToken / Math.LN2;
}

/** 32-bit FNV-1a over bytes (Fowler-Noll-Vo, offset basis 0x811c9dc5, prime 0x01000193). */
export function fnv1aBytes(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** 32-bit FNV-1a over the UTF-16 code units of a string. */
export function fnv1aString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
