// The operator's web UI (behind the edge's ops basic auth):
//   GET /                                  every message, newest first
//   GET /messages/:id                      headers, text part, HTML part (sandboxed iframe), attachments
//   GET /messages/:id/html                 the HTML part alone, under the strict CSP
//   GET /messages/:id/raw                  the message as received (message/rfc822)
//   GET /messages/:id/attachments/:index   one attachment, as a download
import { Router } from 'express';
import { invalid, notFound } from '../lib/errors.js';
import { loadMessage, loadRaw } from '../lib/messages.js';
import { attachmentContent, attachmentInfos } from '../lib/mime.js';
import type { MailStore } from '../lib/store.js';
import { CSP } from '../middleware/security-headers.js';
import { listPage, messagePage } from '../views.js';

const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

export function pageRoutes(deps: { store: MailStore }) {
  const { store } = deps;
  const router = Router();

  router.get('/', (_req, res) => {
    const messages = store.list();
    res.type('html').send(listPage(messages, messages.length));
  });

  router.get('/messages/:id', async (req, res) => {
    const { entry, email } = await loadMessage(store, req.params.id);
    res.type('html').send(messagePage(entry, email, email ? attachmentInfos(email) : []));
  });

  router.get('/messages/:id/html', async (req, res) => {
    const { email } = await loadMessage(store, req.params.id);
    if (!email?.html) throw notFound('html-part');
    res.setHeader('Content-Security-Policy', CSP.htmlPart);
    res.type('html').send(email.html);
  });

  router.get('/messages/:id/raw', async (req, res) => {
    const { entry, raw } = await loadRaw(store, req.params.id);
    res.setHeader('Content-Security-Policy', CSP.download);
    res.setHeader('Content-Disposition', `inline; filename="${entry.id}.eml"`);
    res.type('message/rfc822').send(raw);
  });

  router.get('/messages/:id/attachments/:index', async (req, res) => {
    if (!/^\d{1,4}$/.test(req.params.index)) throw invalid('index: must be a whole number');
    const { email } = await loadMessage(store, req.params.id);
    const index = Number(req.params.index);
    const attachment = email?.attachments[index];
    if (!email || !attachment) throw notFound('attachment');
    const info = attachmentInfos(email)[index]!;
    res.setHeader('Content-Security-Policy', CSP.download);
    // Always a download, never rendered on this origin, whatever type the sender declared.
    res.attachment(info.filename);
    res.type(MIME_TYPE.test(info.contentType) ? info.contentType : 'application/octet-stream');
    res.send(attachmentContent(attachment));
  });

  return router;
}
