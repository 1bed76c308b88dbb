// SHA-256 in a browser (Web Crypto, which is asynchronous): for a checkpoint's manifest when
// writing, and computed ahead for each picked file when reading (decodeCheckpoint's hash is
// synchronous).

/** The lowercase hex SHA-256 of `bytes`. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Each buffer's SHA-256, by buffer. */
export async function digestAll(buffers: readonly Uint8Array[]): Promise<Map<Uint8Array, string>> {
  const entries = await Promise.all(buffers.map(async (b) => [b, await sha256(b)] as const));
  return new Map(entries);
}
