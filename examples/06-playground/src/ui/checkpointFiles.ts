// The checkpoint panel's file handling: the worker's checkpoint files offered as one .tar
// download, and the files the user picks (a checkpoint directory's files, or such a .tar) read
// into the name -> bytes list the worker decodes. Another format is refused in words.
import { readTar, writeTar } from '../tar.js';

/** Starts the download of a checkpoint as `<name>.tar` holding `<name>/<file>`. */
export function downloadCheckpoint(
  name: string,
  files: readonly (readonly [string, Uint8Array])[],
): void {
  const tar = writeTar(files.map(([file, bytes]) => [`${name}/${file}`, bytes] as const));
  const url = URL.createObjectURL(
    new Blob([tar as Uint8Array<ArrayBuffer>], { type: 'application/x-tar' }),
  );
  const link = Object.assign(document.createElement('a'), { href: url, download: `${name}.tar` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The picked files as a checkpoint's files by name, and a name for messages; throws a message
 * saying what a checkpoint is when the picked files are not one.
 */
export async function pickedCheckpoint(
  list: FileList,
  expected: readonly string[],
): Promise<{ name: string; files: [string, Uint8Array][] }> {
  const picked = await Promise.all(
    Array.from(list, async (f) => [f.name, new Uint8Array(await f.arrayBuffer())] as const),
  );
  const tar = picked.find(([name]) => name.endsWith('.tar'));
  let files: [string, Uint8Array][];
  if (tar !== undefined) {
    try {
      files = [...readTar(tar[1])];
    } catch (error) {
      throw new Error(
        `${tar[0]} cannot be read: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  } else {
    files = picked.map(([name, bytes]) => [name, bytes]);
  }
  if (!files.some(([name]) => name === 'MANIFEST.json')) {
    throw new Error(
      `${picked.map(([n]) => n).join(', ')}: not a moderoute checkpoint. Pick the files of a ` +
        `checkpoint directory (runs/<run>/checkpoints/ckpt-<step>/: ${expected.join(', ')}) ` +
        'or the .tar this page downloads.',
    );
  }
  return { name: tar?.[0].replace(/\.tar$/, '') ?? 'picked checkpoint', files };
}
