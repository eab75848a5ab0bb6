// Flags and exit codes for zx commands: --help, typed flags, an expected stop as one sentence, a bug as a stack.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** An expected stop (bad flag, missing tool, port taken): its message says what to do next. */
export class StopError extends Error {
  override name = 'StopError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv`; prints `help` and exits on --help; a bad flag is a StopError. */
export function parseFlags<T extends Options>(argv: string[], options: T, help: string) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(help.trim());
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals: false }).values;
  } catch (error) {
    throw new StopError(`${(error as Error).message}\nSee --help.`);
  }
}

/** Reads a whole-number flag (or its env fallback) within [min, max]. */
export function intFlag(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new StopError(`--${name} must be a whole number from ${min} to ${max}, not "${raw}".`);
  }
  return value;
}

/** Runs a command's main; sets a non-zero exit code on failure. */
export async function runCommand(main: () => Promise<void>) {
  try {
    await main();
  } catch (error) {
    console.error(error instanceof StopError ? error.message : error);
    process.exitCode = 1;
  }
}
