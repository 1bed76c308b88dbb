// Code in the docs comes from files the tests run: every TypeScript block in docs/*.md, README.md
// and the examples' READMEs carries a `<!-- quote: path -->` marker, and its lines (trimmed) stand
// in that file in the same order, contiguous. A doc that drifts from the code fails here.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  const examples = readdirSync(join(ROOT, 'examples'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'examples', d.name, 'README.md')))
    .map((d) => join('examples', d.name, 'README.md'));
  return ['README.md', ...docs, ...examples];
}

interface Block {
  readonly line: number;
  readonly quote: string | undefined;
  readonly lines: string[];
}

/** TypeScript fenced blocks with the quote marker of the nearest non-empty line above them. */
function tsBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const quote = j >= 0 ? /<!--\s*quote:\s*(\S+)\s*-->/.exec(lines[j]!)?.[1] : undefined;
    const body: string[] = [];
    let k = i + 1;
    for (; k < lines.length && !/^\s*```\s*$/.test(lines[k]!); k++) body.push(lines[k]!);
    blocks.push({ line: i + 1, quote, lines: body });
    i = k;
  }
  return blocks;
}

/** Whether `needle` (trimmed, blank lines dropped) stands contiguously in `haystack`'s trimmed lines. */
function containsLines(haystack: string, needle: readonly string[]): boolean {
  const hay = haystack
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const want = needle.map((l) => l.trim()).filter((l) => l !== '');
  if (want.length === 0) return true;
  outer: for (let i = 0; i + want.length <= hay.length; i++) {
    for (let j = 0; j < want.length; j++) if (hay[i + j] !== want[j]) continue outer;
    return true;
  }
  return false;
}

describe('code in the docs', () => {
  for (const file of markdownFiles()) {
    const blocks = tsBlocks(readFileSync(join(ROOT, file), 'utf8'));
    if (blocks.length === 0) continue;
    it(`should quote tested files word for word: ${file}`, () => {
      for (const block of blocks) {
        assert.ok(
          block.quote,
          `${file}:${block.line}: a TypeScript block without a <!-- quote: path --> marker`,
        );
        const source = join(ROOT, block.quote);
        assert.ok(
          existsSync(source),
          `${file}:${block.line}: quoted file ${block.quote} does not exist`,
        );
        assert.ok(
          containsLines(readFileSync(source, 'utf8'), block.lines),
          `${file}:${block.line}: the block is not in ${block.quote} word for word`,
        );
      }
    });
  }
});
