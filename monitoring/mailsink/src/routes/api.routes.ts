// JSON API: what the end-to-end tests poll to find a mail, and a way to empty the box.
//   GET    /api/messages?limit=&subject=&to=   newest first; subject and to: case-insensitive substrings
//   GET    /api/messages/:id                   the entry, text, html, headers, attachments
//   DELETE /api/messages                       empties the box
import { Router, type Request } from 'express';
import { invalid } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { loadMessage } from '../lib/messages.js';
import { attachmentInfos } from '../lib/mime.js';
import type { MailStore } from '../lib/store.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

/** A query parameter given at most once; undefined when absent. */
function queryValue(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${name}: give it once, as a string`);
  return value;
}

function parseLimit(value: string | undefined) {
  if (value === undefined) return DEFAULT_LIMIT;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_LIMIT) {
    throw invalid(`limit: must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  return Number(value);
}

export function apiRoutes(deps: { store: MailStore; logger: Logger }) {
  const { store, logger } = deps;
  const router = Router();

  router.get('/messages', (req, res) => {
    const limit = parseLimit(queryValue(req, 'limit'));
    const subject = queryValue(req, 'subject')?.toLowerCase();
    const to = queryValue(req, 'to')?.toLowerCase();
    const matching = store
      .list()
      .filter((m) => subject === undefined || m.subject.toLowerCase().includes(subject))
      .filter((m) => to === undefined || m.to.some((address) => address.toLowerCase().includes(to)));
    res.json({ total: matching.length, messages: matching.slice(0, limit) });
  });

  router.get('/messages/:id', async (req, res) => {
    const { entry, email } = await loadMessage(store, req.params.id);
    res.json({
      ...entry,
      parsed: email !== undefined,
      date: email?.date ?? null,
      messageId: email?.messageId ?? null,
      headers: (email?.headers ?? []).map((header) => ({ name: header.originalKey, value: header.value })),
      text: email?.text ?? null,
      html: email?.html ?? null,
      attachments: (email ? attachmentInfos(email) : []).map((attachment) => ({
        ...attachment,
        url: `/messages/${entry.id}/attachments/${attachment.index}`,
      })),
      links: { page: `/messages/${entry.id}`, raw: `/messages/${entry.id}/raw` },
    });
  });

  router.delete('/messages', async (_req, res) => {
    const deleted = await store.clear();
    logger.info('mail box emptied', { deleted });
    res.json({ deleted });
  });

  return router;
}
