// A checkpoint directory as one download: a POSIX ustar archive of its files under the
// checkpoint's directory name (`tar -xf ckpt-00000040.tar` gives the directory `moderoute sample
// --checkpoint` reads), and the reading of such an archive when the user picks one.

const BLOCK = 512;
const encoder = new TextEncoder();

function field(header: Uint8Array, offset: number, length: number, text: string): void {
  header.set(encoder.encode(text).slice(0, length), offset);
}

const octal = (value: number, length: number) => `${value.toString(8).padStart(length - 1, '0')}\0`;

/** A ustar archive of `files` (names up to 100 bytes, `dir/name`), regular files, mode 644. */
export function writeTar(files: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  const size = files.reduce((s, [, b]) => s + BLOCK + Math.ceil(b.length / BLOCK) * BLOCK, 0);
  const out = new Uint8Array(size + 2 * BLOCK);
  let at = 0;
  for (const [name, bytes] of files) {
    if (encoder.encode(name).length > 100) throw new Error(`file name too long for tar: ${name}`);
    const header = out.subarray(at, at + BLOCK);
    field(header, 0, 100, name);
    field(header, 100, 8, octal(0o644, 8));
    field(header, 108, 8, octal(0, 8));
    field(header, 116, 8, octal(0, 8));
    field(header, 124, 12, octal(bytes.length, 12));
    field(header, 136, 12, octal(0, 12));
    field(header, 148, 8, '        ');
    field(header, 156, 1, '0');
    field(header, 257, 6, 'ustar\0');
    field(header, 263, 2, '00');
    const sum = header.reduce((s, b) => s + b, 0);
    field(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    out.set(bytes, at + BLOCK);
    at += BLOCK + Math.ceil(bytes.length / BLOCK) * BLOCK;
  }
  return out;
}

/** The regular files of a ustar archive, by base name; throws when it is not one. */
export function readTar(archive: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  const text = (from: number, length: number) =>
    decoder.decode(archive.subarray(from, from + length)).replace(/\0.*$/s, '');
  let at = 0;
  while (at + BLOCK <= archive.length && archive[at] !== 0) {
    if (text(at + 257, 5) !== 'ustar') throw new Error('not a tar archive (no ustar header)');
    const name = text(at, 100);
    const size = parseInt(text(at + 124, 12).trim(), 8);
    if (!Number.isFinite(size) || at + BLOCK + size > archive.length)
      throw new Error(`the tar archive is cut short at ${name}`);
    const type = String.fromCharCode(archive[at + 156] ?? 48);
    if (type === '0' || type === '\0')
      files.set(name.split('/').pop()!, archive.slice(at + BLOCK, at + BLOCK + size));
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
