// The moderoute command line: one subcommand per job. Results go to stdout, progress and notes
// to stderr; typed errors print one line and exit 2.
import { Command, CommanderError } from 'commander';
import { benchCommand } from './commands/bench.js';
import { evalCommand } from './commands/eval.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { reproduceCommand } from './commands/reproduce.js';
import { trainCommand } from './commands/train.js';
import { EXIT, processIo, reportError, type Io } from './output.js';
import { VERSION } from './version.js';

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('moderoute')
    .description('Conditional computation in transformers (Mixture-of-Depths, Mixture-of-Experts, MoDE) on TensorFlow.js')
    .version(VERSION, '-V, --version', 'print the version of moderoute')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  program.addCommand(trainCommand(io, setExit));
  program.addCommand(evalCommand(io));
  program.addCommand(inspectCommand(io));
  program.addCommand(generateCommand(io));
  program.addCommand(reproduceCommand(io, setExit));
  program.addCommand(benchCommand(io));
  for (const sub of program.commands) sub.exitOverride().configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  return program;
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
