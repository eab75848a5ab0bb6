// Files only their owner may read (folders 700, files 600), written all or nothing: each new file goes to a
// temporary name in its own folder first, and all of them are renamed into place only once every one is ready.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** The permission bits of `file`, or undefined when it does not exist. */
export async function modeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).mode & 0o777;
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** The content of `file`, or undefined when it does not exist. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Creates `dir` (with its parents) mode 700, or tightens an existing one to 700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if ((await modeOf(dir)) !== PRIVATE_DIR_MODE) await chmod(dir, PRIVATE_DIR_MODE);
}

/** New files waiting next to their final names; commit() renames them all into place, discard() removes them. */
export class Staging {
  private readonly staged: { temp: string; final: string }[] = [];

  /** A temporary path next to `file` for a tool to write; renamed onto `file` (mode 600) by commit(). */
  pathFor(file: string): string {
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${randomBytes(6).toString('hex')}`);
    this.staged.push({ temp, final: file });
    return temp;
  }

  /** Writes `content` to a temporary file next to `file`, mode 600 from the start. */
  async write(file: string, content: string | Buffer): Promise<void> {
    await writeFile(this.pathFor(file), content, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  }

  get files(): string[] {
    return this.staged.map(({ final }) => final);
  }

  async commit(): Promise<void> {
    for (const { temp } of this.staged) await chmod(temp, PRIVATE_FILE_MODE);
    for (const { temp, final } of this.staged) await rename(temp, final);
    this.staged.length = 0;
  }

  async discard(): Promise<void> {
    await Promise.all(this.staged.map(({ temp }) => rm(temp, { force: true })));
    this.staged.length = 0;
  }
}
