// The operator's pages: server-rendered HTML, no script. Every value from a message goes through escapeHtml; the
// HTML part of a message only ever reaches the browser inside a sandboxed iframe (srcdoc, escaped) or on its own
// page under a CSP that forbids everything but inline styles and data: images (see app.ts).
import type { Email } from 'postal-mime';
import type { AttachmentInfo } from './lib/mime.js';
import type { MessageEntry } from './lib/store.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

const attr = (value: string) => `"${escapeHtml(value)}"`;
const href = (...segments: string[]) => attr(`/${segments.map(encodeURIComponent).join('/')}`);

/** 2025-01-22 03:15:07 UTC */
const time = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

function formatSize(bytes: number) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const STYLE = `
  body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1d1f21; }
  h1 { font-size: 1.25rem; } h1 a { color: inherit; text-decoration: none; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e2e4e7; vertical-align: top; }
  th { background: #f5f6f8; font-weight: 600; }
  td.time, td.size { white-space: nowrap; color: #555; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f6f8; padding: .75rem; border-radius: 4px; }
  iframe { width: 100%; height: 70vh; border: 1px solid #e2e4e7; border-radius: 4px; }
  .muted { color: #666; } nav a { margin-right: 1rem; }
`;

function layout(title: string, body: string) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · swarmlab mail sink</title>
<style>${STYLE}</style>
</head>
<body>
<h1><a href="/">swarmlab mail sink</a></h1>
${body}
</body>
</html>
`;
}

export function listPage(messages: MessageEntry[], total: number) {
  const rows = messages
    .map(
      (m) => `<tr>
<td class="time">${escapeHtml(time(m.receivedAt))}</td>
<td>${escapeHtml(m.from)}</td>
<td>${escapeHtml(m.to.join(', '))}</td>
<td><a href=${href('messages', m.id)}>${escapeHtml(m.subject || '(no subject)')}</a></td>
<td class="size">${escapeHtml(formatSize(m.size))}</td>
</tr>`,
    )
    .join('\n');
  const table =
    messages.length === 0
      ? '<p class="muted">No messages.</p>'
      : `<table>
<thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th><th>Size</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
  return layout(
    'Messages',
    `<p class="muted">${total} message${total === 1 ? '' : 's'}, newest first. JSON: <a href="/api/messages">/api/messages</a>.
Empty the box: <code>curl -X DELETE …/api/messages</code>.</p>
${table}`,
  );
}

export function messagePage(entry: MessageEntry, email: Email | undefined, attachments: AttachmentInfo[]) {
  const links = [
    `<a href=${href('messages', entry.id, 'raw')}>Raw message (.eml)</a>`,
    email?.html ? `<a href=${href('messages', entry.id, 'html')}>HTML part on its own</a>` : '',
  ].join('');
  const attachmentList =
    attachments.length === 0
      ? ''
      : `<h2>Attachments</h2>
<ul>
${attachments
  .map(
    (a) =>
      `<li><a href=${href('messages', entry.id, 'attachments', String(a.index))}>${escapeHtml(a.filename)}</a> <span class="muted">${escapeHtml(a.contentType)}, ${escapeHtml(formatSize(a.size))}</span></li>`,
  )
  .join('\n')}
</ul>`;
  // sandbox="" : no script, no same origin, no forms, no navigation of this page; the page's CSP (inherited by
  // srcdoc) blocks every remote load.
  const html = email?.html
    ? `<h2>HTML part</h2>
<iframe sandbox="" referrerpolicy="no-referrer" title="HTML part" srcdoc=${attr(email.html)}></iframe>`
    : '';
  const text = email?.text ? `<h2>Text part</h2>\n<pre>${escapeHtml(email.text)}</pre>` : '';
  const unparsed = email ? '' : '<p class="muted">This message could not be parsed: see the raw message.</p>';
  return layout(
    entry.subject || '(no subject)',
    `<nav><a href="/">← All messages</a>${links}</nav>
<dl>
<dt>Subject</dt><dd>${escapeHtml(entry.subject || '(no subject)')}</dd>
<dt>From</dt><dd>${escapeHtml(entry.from)}</dd>
<dt>To</dt><dd>${escapeHtml(entry.to.join(', '))}</dd>
${email?.date ? `<dt>Date</dt><dd>${escapeHtml(email.date)}</dd>` : ''}
<dt>Received</dt><dd>${escapeHtml(time(entry.receivedAt))}</dd>
<dt>Size</dt><dd>${escapeHtml(formatSize(entry.size))}</dd>
<dt>Id</dt><dd>${escapeHtml(entry.id)}</dd>
</dl>
${unparsed}${text}
${html}
${attachmentList}`,
  );
}

export function errorPage(status: number, detail: string) {
  return layout(String(status), `<p>${escapeHtml(detail)}</p>\n<p><a href="/">All messages</a></p>`);
}
