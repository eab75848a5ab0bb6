// Progress for zx commands: named steps with elapsed time on stderr, a closing summary on stdout.
import { performance } from 'node:perf_hooks';

const elapsed = (since: number) => `${Math.round(performance.now() - since)} ms`;

/** Runs `fn` as a named step: prints when it starts, and how long it took or that it failed. */
export async function step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  console.error(`▸ ${name}`);
  try {
    const result = await fn();
    console.error(`✓ ${name} (${elapsed(started)})`);
    return result;
  } catch (error) {
    console.error(`✗ ${name} failed after ${elapsed(started)}`);
    throw error;
  }
}

/** Prints a titled block of aligned `label  value` lines. */
export function summary(title: string, lines: Record<string, string>) {
  const width = Math.max(...Object.keys(lines).map((label) => label.length));
  console.log(`\n${title}`);
  for (const [label, value] of Object.entries(lines)) console.log(`  ${label.padEnd(width)}  ${value}`);
}
