// Every action decided (run, skipped or failed): the last entries in memory for GET /audit, all of them appended
// to a JSON-lines file on the remediator's volume. The file outlives the process: at start-up its tail refills the
// memory and the guards, so a restart neither forgets the history nor resets the cooldowns and the hourly cap.
import { appendFile, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type { Action, Result } from './policy.js';

export interface AuditEntry {
  time: string;
  action: Action;
  service: string;
  result: Result;
  /** Why the action was asked for (the alert). */
  reason: string;
  /** What happened: the change made, or why it was skipped or failed. */
  detail: string;
  alertname: string;
  alertStatus: 'firing' | 'resolved';
  fingerprint: string;
  dryRun: boolean;
  replicas?: { from: number; to: number };
}

export const AUDIT_CAPACITY = 500;
// Enough for far more than AUDIT_CAPACITY lines; the file itself may grow much longer.
const TAIL_BYTES = 1024 * 1024;

export class AuditLog {
  private entries: AuditEntry[] = [];
  private writes: Promise<void> = Promise.resolve();
  private directoryReady = false;

  constructor(
    private readonly file: string | undefined,
    private readonly onWriteError: (error: unknown) => void = () => {},
    private readonly capacity = AUDIT_CAPACITY,
  ) {}

  /**
   * Reads the tail of the file, if there is one (unparseable lines, a torn last write, are skipped), and makes sure
   * it can be appended to: a remediator that cannot keep its audit refuses to start rather than act unrecorded.
   */
  async load(): Promise<void> {
    if (!this.file) return;
    await this.checkWritable(this.file);
    let text: string;
    try {
      text = await readTail(this.file, TAIL_BYTES);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const loaded: AuditEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        loaded.push(JSON.parse(line) as AuditEntry);
      } catch {
        // a partial line: the first one of the tail, or a write cut short by a crash
      }
    }
    this.entries = loaded.slice(-this.capacity);
  }

  private async checkWritable(file: string) {
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await (await open(file, 'a', 0o640)).close();
      this.directoryReady = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new Error(
        `cannot write the audit file ${file} (${code}) as uid ${process.getuid?.()}: give its directory to that user ` +
          '(a remediator-data volume made by an image older than the non-root one belongs to root: ' +
          '`npm run lab:down -- --purge`, or chown it to 1000 on node1)',
        { cause: error },
      );
    }
  }

  append(entry: AuditEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    if (!this.file) return;
    const file = this.file;
    // Writes are chained so lines keep their order; a failed write is reported, never thrown at the caller.
    this.writes = this.writes
      .then(async () => {
        if (!this.directoryReady) {
          await mkdir(path.dirname(file), { recursive: true });
          this.directoryReady = true;
        }
        await appendFile(file, `${JSON.stringify(entry)}\n`, { mode: 0o640 });
      })
      .catch(this.onWriteError);
  }

  /** The last `limit` entries, oldest first (the order of the file). */
  last(limit: number): AuditEntry[] {
    return this.entries.slice(-limit);
  }

  /** Resolves once every appended entry is on disk (or has failed). */
  flush(): Promise<void> {
    return this.writes;
  }
}

async function readTail(file: string, maxBytes: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}
