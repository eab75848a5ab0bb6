// The mail box on disk:
//
//   <dataDir>/index.json           {"version":1,"messages":[entry, ...]}, oldest first: the commit record
//   <dataDir>/messages/<id>.eml    each message exactly as received
//
// Every file is written under a temporary name, fsynced, then renamed over its final name: a crash leaves the old
// file or the new one, never half of one. A message is stored once the index naming it is in place, and only then
// does its SMTP client get a 250. Opening the store tidies what a crash or a failed write can leave: temporary
// files, .eml files the index does not name (their client got no 250 and sends again), entries whose file is gone.
// One process per data directory (the service runs one replica, stop-first); writes are serialized within it.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from './logger.js';
import { parseMessage, summarize, type MessageSummary } from './mime.js';

export interface MessageEntry extends MessageSummary {
  id: string;
  /** ISO 8601, UTC. */
  receivedAt: string;
  /** Bytes of the raw message. */
  size: number;
}

interface IndexFile {
  version: 1;
  messages: MessageEntry[];
}

const ID = /^[0-9a-z]{6,12}-[0-9a-f]{12}$/;
const INDEX = 'index.json';
const MESSAGES = 'messages';

/** Sortable by time in a directory listing, unique, and safe in a path and a URL. */
const newId = () => `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;

export const isMessageId = (value: string) => ID.test(value);

function isEntry(value: unknown): value is MessageEntry {
  const entry = value as MessageEntry;
  return (
    typeof entry === 'object' &&
    entry !== null &&
    typeof entry.id === 'string' &&
    ID.test(entry.id) &&
    typeof entry.receivedAt === 'string' &&
    !Number.isNaN(Date.parse(entry.receivedAt)) &&
    typeof entry.from === 'string' &&
    Array.isArray(entry.to) &&
    entry.to.every((to) => typeof to === 'string') &&
    typeof entry.subject === 'string' &&
    Number.isSafeInteger(entry.size)
  );
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** fsync of a directory makes a rename in it durable; not every file system allows it, hence best effort. */
async function syncDir(dir: string) {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // the rename itself has happened; only its durability across a power cut is less certain
  }
}

/** Writes through `.<name>.tmp`, fsync, rename. The temporary file never outlives a failure. */
async function writeAtomic(file: string, data: string | Uint8Array) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  try {
    const handle = await open(tmp, 'w', 0o640);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDir(path.dirname(file));
}

export interface StoreOptions {
  dataDir: string;
  maxMessages: number;
  logger: Logger;
}

export class MailStore {
  private entries: MessageEntry[] = [];
  private byId = new Map<string, MessageEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly messagesDir: string;
  private readonly indexFile: string;

  private constructor(private readonly options: StoreOptions) {
    this.messagesDir = path.join(options.dataDir, MESSAGES);
    this.indexFile = path.join(options.dataDir, INDEX);
  }

  /** Opens (creating it if needed) and tidies the data directory; throws when it cannot be used. */
  static async open(options: StoreOptions): Promise<MailStore> {
    const store = new MailStore(options);
    await mkdir(store.messagesDir, { recursive: true, mode: 0o750 });
    await store.load();
    return store;
  }

  get count() {
    return this.entries.length;
  }

  /** Newest first. */
  list(): MessageEntry[] {
    return this.entries.toReversed();
  }

  get(id: string): MessageEntry | undefined {
    return this.byId.get(id);
  }

  /** The raw message, or undefined when there is no such message (any more). */
  async readRaw(id: string): Promise<Buffer | undefined> {
    if (!this.byId.has(id)) return undefined;
    try {
      return await readFile(this.emlPath(id));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined; // removed meanwhile (cap, DELETE)
      throw error;
    }
  }

  /**
   * Stores a message: its file, then the index that names it (and no longer names the oldest ones beyond the cap),
   * then removes the files of those. Throws, with nothing stored, when either write fails.
   */
  add(raw: Uint8Array, summary: MessageSummary): Promise<{ entry: MessageEntry; evicted: MessageEntry[] }> {
    return this.exclusive(async () => {
      const entry: MessageEntry = {
        id: newId(),
        receivedAt: new Date().toISOString(),
        ...summary,
        size: raw.byteLength,
      };
      await writeAtomic(this.emlPath(entry.id), raw);
      const next = [...this.entries, entry];
      const evicted = next.splice(0, Math.max(0, next.length - this.options.maxMessages));
      try {
        await this.writeIndex(next);
      } catch (error) {
        await rm(this.emlPath(entry.id), { force: true }).catch(() => undefined); // else removed at the next open
        throw error;
      }
      this.setEntries(next);
      await this.removeFiles(evicted.map((evictedEntry) => evictedEntry.id));
      return { entry, evicted };
    });
  }

  /** Empties the box: the index first (the commit), then the files. Returns how many messages it held. */
  clear(): Promise<number> {
    return this.exclusive(async () => {
      const removed = this.entries.length;
      await this.writeIndex([]);
      this.setEntries([]);
      const files = await readdir(this.messagesDir);
      await this.removeFiles(files.filter((file) => file.endsWith('.eml')).map((file) => file.slice(0, -4)));
      return removed;
    });
  }

  private emlPath(id: string) {
    return path.join(this.messagesDir, `${id}.eml`);
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private setEntries(entries: MessageEntry[]) {
    this.entries = entries;
    this.byId = new Map(entries.map((entry) => [entry.id, entry]));
  }

  private async writeIndex(messages: MessageEntry[]) {
    const index: IndexFile = { version: 1, messages };
    await writeAtomic(this.indexFile, `${JSON.stringify(index)}\n`);
  }

  private async removeFiles(ids: string[]) {
    for (const id of ids) {
      try {
        await rm(this.emlPath(id), { force: true });
      } catch (error) {
        // An unlisted file is removed at the next open.
        this.options.logger.warn('message file not removed', { id, error });
      }
    }
  }

  /** Reads the index, or rebuilds it from the files when it is missing or unreadable; then tidies. */
  private async load() {
    const { logger } = this.options;
    const files = await readdir(this.messagesDir);
    for (const file of files.filter((name) => name.startsWith('.') && name.endsWith('.tmp'))) {
      await rm(path.join(this.messagesDir, file), { force: true });
    }
    await rm(path.join(this.options.dataDir, `.${INDEX}.tmp`), { force: true });
    const onDisk = new Set(files.filter((name) => name.endsWith('.eml')).map((name) => name.slice(0, -4)));

    let entries = await this.readIndex();
    let changed = false;
    if (entries === undefined) {
      entries = await this.rebuild([...onDisk].filter(isMessageId));
      changed = true;
    } else {
      const listed = entries.filter((entry) => onDisk.has(entry.id));
      if (listed.length < entries.length) {
        logger.warn('index entries without a file dropped', { count: entries.length - listed.length });
        changed = true;
      }
      const named = new Set(listed.map((entry) => entry.id));
      const orphans = [...onDisk].filter((id) => !named.has(id));
      if (orphans.length > 0) {
        // Written, but the index naming them was not: their clients never got a 250 and send them again.
        logger.warn('unlisted message files removed', { count: orphans.length, ids: orphans.slice(0, 20) });
        await this.removeFiles(orphans);
      }
      entries = listed;
    }
    const evicted = entries.splice(0, Math.max(0, entries.length - this.options.maxMessages));
    if (changed || evicted.length > 0) await this.writeIndex(entries);
    await this.removeFiles(evicted.map((entry) => entry.id));
    this.setEntries(entries);
    logger.info('mail box opened', { dataDir: this.options.dataDir, messages: entries.length });
  }

  /** The index's entries; undefined when there is none or it cannot be read (moved aside, then rebuilt). */
  private async readIndex(): Promise<MessageEntry[] | undefined> {
    let text: string;
    try {
      text = await readFile(this.indexFile, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const index = JSON.parse(text) as Partial<IndexFile>;
      if (index.version !== 1 || !Array.isArray(index.messages) || !index.messages.every(isEntry)) {
        throw new Error('not a version 1 index');
      }
      return index.messages;
    } catch (error) {
      const aside = `${this.indexFile}.corrupt-${Date.now()}`;
      await rename(this.indexFile, aside);
      this.options.logger.error('index unreadable; moved aside, rebuilding from the message files', { aside, error });
      return undefined;
    }
  }

  /** Index entries for message files, from their headers; received time from the file's mtime. */
  private async rebuild(ids: string[]): Promise<MessageEntry[]> {
    const entries: MessageEntry[] = [];
    for (const id of ids) {
      const file = this.emlPath(id);
      const [raw, stats] = await Promise.all([readFile(file), stat(file)]);
      const email = await parseMessage(raw).catch(() => undefined);
      entries.push({
        id,
        receivedAt: stats.mtime.toISOString(),
        ...summarize(email, { rcptTo: [] }),
        size: raw.byteLength,
      });
    }
    if (entries.length > 0) this.options.logger.warn('index rebuilt from message files', { messages: entries.length });
    return entries.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
  }
}
