// The moderoute command line: one subcommand per job. Results go to stdout, progress and notes
// to stderr; typed errors print one line and exit 2.
import { Command, CommanderError } from 'commander';
import { benchCommand } from './commands/bench.js';
import { calibrateCommand } from './commands/calibrate.js';
import { evalCommand } from './commands/eval.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { reproduceCommand } from './commands/reproduce.js';
import { trainCommand } from './commands/train.js';
import { EXIT, processIo, reportError, type Io } from './output.js';
import { VERSION } from './version.js';

/**
 * The `moderoute` commander program with every command, writing through `io` and exiting through
 * `setExit`.
 */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('moderoute')
    .description(
      'Conditional computation in transformers (Mixture-of-Depths, Mixture-of-Experts, MoDE) on TensorFlow.js',
    )
    .version(VERSION, '-V, --version', 'print the version of moderoute')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
    });
  program.addCommand(trainCommand(io, setExit));
  program.addCommand(evalCommand(io));
  program.addCommand(calibrateCommand(io));
  program.addCommand(inspectCommand(io));
  program.addCommand(generateCommand(io));
  program.addCommand(reproduceCommand(io, setExit));
  program.addCommand(benchCommand(io));
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      outputError: (s, write) => write(withOptionSuggestion(sub, s)),
    });
  }
  return program;
}

/**
 * Commander suggests an option within edit distance 3 of a mistyped one; a shortened option
 * (`--batch` for `--batch-size`) is further away, so an unknown option that begins one or more
 * options' names gets those names suggested too.
 */
export function withOptionSuggestion(command: Command, message: string): string {
  const unknown = /^error: unknown option '(--[^']+)'\n?$/.exec(message);
  if (unknown === null) return message;
  const typed = unknown[1]!.split('=')[0]!;
  const longs = command.options
    .map((o) => o.long)
    .filter((l): l is string => l !== undefined && !l.startsWith('--no-'));
  const matches = longs.filter((l) => l.startsWith(typed));
  if (matches.length === 0) return message;
  return `error: unknown option '${unknown[1]}'\n(Did you mean ${matches.join(' or ')}?)\n`;
}

/** Runs the command line; returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(io, error);
  }
}
