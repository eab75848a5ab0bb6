// HTTP out: the operator's pages (escaped, sandboxed, locked down by headers), raw messages and attachments, the
// JSON API the end-to-end tests poll, health and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTACHMENT_BYTES, buildAlertMail, buildMail } from './factories/mail.js';
import { startTestMailsink, type TestMailsink } from './helpers/mailsink.js';

let mailsink: TestMailsink;
beforeAll(async () => {
  mailsink = await startTestMailsink();
});
afterAll(() => mailsink?.close());

const HOSTILE = '<script>alert("subject")</script>';

describe('web UI', () => {
  it('GET / › when messages arrived, then they are listed newest first, every value escaped', async () => {
    const older = buildMail({ subject: `older ${HOSTILE}` });
    const newer = buildMail({ subject: 'newer', from: '"<b>Eve</b>" <eve@lab.localhost>' });
    await mailsink.send(older);
    await mailsink.send(newer);

    const response = await mailsink.fetch('/');
    const page = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.indexOf('newer')).toBeLessThan(page.indexOf('older'));
    expect(page).toContain('older &lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt;');
    expect(page).toContain('&lt;b&gt;Eve&lt;/b&gt; &lt;eve@lab.localhost&gt;');
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<b>Eve');
  });

  it('every page › security headers: a CSP without script, nosniff, no referrer, no framing, no caching', async () => {
    const response = await mailsink.fetch('/');

    expect(response.headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
    );
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-powered-by')).toBeNull();
  });

  it('GET /messages/:id › the text part escaped in <pre>, the HTML part only in a sandboxed srcdoc iframe', async () => {
    const mail = buildAlertMail();
    const { id } = await mailsink.send(mail);

    const page = await (await mailsink.fetch(`/messages/${id}`)).text();

    expect(page).toContain('<pre>[FIRING:1]');
    expect(page).toContain('summary: the API answers no health check &lt;for 1m&gt;');
    const iframe = /<iframe ([^>]*)><\/iframe>/.exec(page)?.[1] ?? '';
    expect(iframe).toContain('sandbox=""');
    expect(iframe).toContain('srcdoc="&lt;html&gt;&lt;body&gt;&lt;h1 onclick=&quot;alert(1)&quot;&gt;');
    expect(iframe).not.toMatch(/allow-scripts|allow-same-origin/);
    // Nothing of the HTML part is live markup on the page itself.
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<h1 onclick');
    expect(page).toContain(`href="/messages/${id}/attachments/0">runbook.pdf</a>`);
  });

  it('GET /messages/:id/html › the HTML part alone, under the strict CSP, sandboxed', async () => {
    const mail = buildAlertMail();
    const { id } = await mailsink.send(mail);

    const response = await mailsink.fetch(`/messages/${id}/html`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'; img-src data:; style-src 'unsafe-inline'");
    expect(csp.split('; ')).toEqual(expect.arrayContaining(["frame-ancestors 'none'", 'sandbox']));
    expect(await response.text()).toContain(String(mail.html));
  });

  it('GET /messages/:id/html › when the message has no HTML part, then 404', async () => {
    const { id } = await mailsink.send(buildMail());

    expect((await mailsink.fetch(`/messages/${id}/html`)).status).toBe(404);
  });

  it('GET /messages/:id/raw › the message byte for byte as it came in, as message/rfc822', async () => {
    const raw = [
      'From: alertmanager@lab.localhost',
      'To: ops@lab.localhost',
      'Subject: raw bytes',
      'Message-ID: <raw-1@lab.localhost>',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Grüße, line one',
      '.a line that starts with a dot (dot-stuffed on the wire)',
      '',
    ].join('\r\n');
    const { id } = await mailsink.send({
      envelope: { from: 'alertmanager@lab.localhost', to: ['ops@lab.localhost'] },
      raw,
    });

    const response = await mailsink.fetch(`/messages/${id}/raw`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('message/rfc822');
    expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(raw, 'utf8'))).toBe(true);
  });

  it('GET /messages/:id/attachments/:n › the attachment as a download, its bytes intact', async () => {
    const { id } = await mailsink.send(buildAlertMail());

    const response = await mailsink.fetch(`/messages/${id}/attachments/0`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename=runbook.pdf');
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(Buffer.from(await response.arrayBuffer()).equals(ATTACHMENT_BYTES)).toBe(true);
    expect((await mailsink.fetch(`/messages/${id}/attachments/1`)).status).toBe(404);
    expect((await mailsink.fetch(`/messages/${id}/attachments/x`)).status).toBe(400);
  });

  it('when a message does not exist (or the id is no id), then 404, an HTML page for pages', async () => {
    for (const urlPath of ['/messages/nope', '/messages/mwz00000-0123456789ab/raw', '/messages/..%2Findex.json/raw']) {
      const response = await mailsink.fetch(urlPath);
      expect(response.status, urlPath).toBe(404);
      expect(response.headers.get('content-type'), urlPath).toMatch(/^text\/html/);
    }
  });
});

describe('JSON API', () => {
  it('GET /api/messages/:id › entry, text, html, headers and the attachments with their URLs', async () => {
    const mail = buildAlertMail();
    const { id } = await mailsink.send(mail);

    const detail = await mailsink.json<Record<string, unknown>>(`/api/messages/${id}`);

    expect(detail).toMatchObject({
      id,
      from: 'Alertmanager <alertmanager@lab.localhost>',
      to: ['ops@lab.localhost'],
      subject: mail.subject,
      parsed: true,
      text: `${String(mail.text)}\n`,
      links: { page: `/messages/${id}`, raw: `/messages/${id}/raw` },
    });
    expect(detail.attachments).toEqual([
      {
        index: 0,
        filename: 'runbook.pdf',
        contentType: 'application/pdf',
        size: ATTACHMENT_BYTES.length,
        disposition: 'attachment',
        url: `/messages/${id}/attachments/0`,
      },
    ]);
    expect(detail.headers).toEqual(expect.arrayContaining([{ name: 'Subject', value: mail.subject }]));
  });

  it('GET /api/messages?subject=&to=&limit= › filters (case-insensitive) and limits, total before the limit', async () => {
    const tag = `tag-${Date.now()}`;
    await mailsink.send(buildMail({ subject: `${tag} one`, to: 'database@lab.localhost' }));
    await mailsink.send(buildMail({ subject: `${tag} two` }));
    await mailsink.send(buildMail({ subject: `${tag} three` }));

    const bySubject = await mailsink.list(`?subject=${tag.toUpperCase()}&limit=2`);
    const byRecipient = await mailsink.list(`?subject=${tag}&to=DATABASE@`);

    expect(bySubject.total).toBe(3);
    expect(bySubject.messages.map((m) => m.subject)).toEqual([`${tag} three`, `${tag} two`]);
    expect(byRecipient.messages.map((m) => m.subject)).toEqual([`${tag} one`]);
  });

  it('when limit is not a number from 1 to 1000 or a parameter repeats, then 400 problem+json', async () => {
    for (const query of ['?limit=0', '?limit=1001', '?limit=ten', '?subject=a&subject=b']) {
      const response = await mailsink.fetch(`/api/messages${query}`);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type'), query).toMatch(/^application\/problem\+json/);
      expect(await response.json(), query).toMatchObject({ status: 400, code: 'validation-failed' });
    }
  });

  it('GET /api/messages/:id › when there is no such message, then 404 problem+json', async () => {
    const response = await mailsink.fetch('/api/messages/mwz00000-0123456789ab');

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ status: 404, code: 'message-not-found' });
  });
});

describe('the password', () => {
  it.each(['/', '/api/messages', '/messages/unknown'])(
    'GET %s › without the password or with a wrong one, 401 asking for the user, and no mail',
    async (urlPath) => {
      const wrong = `Basic ${Buffer.from('mailsink:not-the-password').toString('base64')}`;
      for (const headers of [{ authorization: '' }, { authorization: wrong }]) {
        const response = await mailsink.fetch(urlPath, { headers });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Basic realm="swarmlab mail sink", charset="UTF-8"');
        expect(await response.text()).not.toContain('From');
      }
    },
  );

  it('GET /api/messages › with the password, the mail', async () => {
    await mailsink.send(buildMail({ subject: 'behind the password' }));
    const response = await mailsink.fetch('/api/messages', { headers: { authorization: mailsink.authorization } });

    expect(response.status).toBe(200);
    expect(await response.text()).toContain('behind the password');
  });

  it('GET /healthz, /metrics › open without it: counts only, for the healthcheck and Prometheus', async () => {
    for (const urlPath of ['/healthz', '/metrics'])
      expect((await mailsink.fetch(urlPath, { headers: { authorization: '' } })).status).toBe(200);
  });
});

describe('system', () => {
  it('GET /healthz › 200 with the number of messages', async () => {
    const response = await mailsink.fetch('/healthz');

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', messages: expect.any(Number) });
  });

  it('GET /metrics › the mail sink counters and gauge, every reject reason from the start', async () => {
    const text = await (await mailsink.fetch('/metrics')).text();

    expect(text).toMatch(/^mailsink_messages_received_total \d+$/m);
    expect(text).toMatch(/^mailsink_messages_stored \d+$/m);
    expect(text).toContain('mailsink_messages_rejected_total{reason="size"} 0');
    expect(text).toContain('mailsink_messages_rejected_total{reason="storage"} 0');
    expect(text).toContain('mailsink_build_info{version="0.1.0",git_sha="test-sha"} 1');
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });
});
