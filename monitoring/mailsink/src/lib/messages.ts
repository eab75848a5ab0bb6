// One message as the routes need it: its index entry, raw bytes and parsed form, or a 404.
import type { Email } from 'postal-mime';
import { notFound } from './errors.js';
import { parseMessage } from './mime.js';
import type { MailStore, MessageEntry } from './store.js';

export interface LoadedMessage {
  entry: MessageEntry;
  raw: Buffer;
  /** undefined when postal-mime could not parse it (it is stored and served raw all the same). */
  email: Email | undefined;
}

export async function loadRaw(store: MailStore, id: string) {
  const entry = store.get(id);
  const raw = entry && (await store.readRaw(id));
  if (!entry || !raw) throw notFound('message');
  return { entry, raw };
}

export async function loadMessage(store: MailStore, id: string): Promise<LoadedMessage> {
  const { entry, raw } = await loadRaw(store, id);
  return { entry, raw, email: await parseMessage(raw).catch(() => undefined) };
}
