// A peer of `moderoute bench` as a child process that trains one step at a time when asked, so
// that the bench can interleave its steps with moderoute's own, step by step (training.ts). The
// protocol, one line each way: the bench writes `new <variant>` (a fresh model and optimizer),
// `step <variant>` (one training step) or `memory`; the peer answers with one JSON line:
// `{"ok": true}`, `{"ms": 81.2}`, `{"peakRssMb": 312, "wasmHeapMb": 96}` (wasmHeapMb where the
// peer has one), or `{"error": "..."}`. Closing its stdin ends it. The PyTorch peer
// (bench/peer/torch_tiny_lm.py --serve) and the TF.js peer (tfjsPeer.ts) both speak it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';

/** A peer's answer to `memory`. */
export interface PeerMemory {
  readonly peakRssMb: number;
  readonly wasmHeapMb?: number;
}

/** A running step server; `close` ends it. */
export class StepServer {
  private readonly lines: Interface;
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private readonly buffered: string[] = [];
  private stderr = '';
  private ended = false;

  private constructor(
    readonly description: string,
    private readonly child: ChildProcess,
  ) {
    this.lines = createInterface({ input: child.stdout! });
    this.lines.on('line', (line) => {
      if (!line.startsWith('{')) return; // the peer's own prints, if any
      const next = this.waiting.shift();
      if (next) next(line);
      else this.buffered.push(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    child.on('close', () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    });
    child.on('error', () => undefined); // reported as the end of its output
  }

  /** Starts `command args` (answers come as requests are made). */
  static start(
    description: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = process.env,
  ): StepServer {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    return new StepServer(description, child);
  }

  /** Sends one request line and resolves with the parsed answer; rejects with the peer's error. */
  async request(line: string): Promise<Record<string, unknown>> {
    if (this.ended) throw new Error(`${this.description} has ended: ${this.lastError()}`);
    const answer = new Promise<string | undefined>((resolve) => {
      const ready = this.buffered.shift();
      if (ready !== undefined) resolve(ready);
      else this.waiting.push(resolve);
    });
    this.child.stdin!.write(`${line}\n`);
    const text = await answer;
    if (text === undefined) throw new Error(`${this.description} ended: ${this.lastError()}`);
    const out = JSON.parse(text) as Record<string, unknown>;
    if (typeof out['error'] === 'string') throw new Error(`${this.description}: ${out['error']}`);
    return out;
  }

  /** One timed training step of `variant`'s model, in ms (as the peer measured it). */
  async step(variant: string): Promise<number> {
    const ms = Number((await this.request(`step ${variant}`))['ms']);
    if (!(ms > 0)) throw new Error(`${this.description}: no step time`);
    return ms;
  }

  /** The peer's own peak RSS and (where it has one) its wasm heap's size, in MB. */
  async memory(): Promise<PeerMemory> {
    const out = await this.request('memory');
    return {
      peakRssMb: Number(out['peakRssMb']),
      ...(out['wasmHeapMb'] !== undefined ? { wasmHeapMb: Number(out['wasmHeapMb']) } : {}),
    };
  }

  private lastError(): string {
    return this.stderr.trim().split('\n').pop() || 'no output';
  }

  /** Ends the peer (closes its stdin) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.ended) return;
    const done = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin!.end();
    await done;
  }
}
