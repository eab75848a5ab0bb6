import { realpathSync } from 'node:fs';

/** True when the module at `filename` (import.meta.filename) is the program node was started with. */
export function isMain(filename: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === filename;
  } catch {
    return false;
  }
}
