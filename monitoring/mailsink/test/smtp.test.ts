// SMTP in: what is stored, what is refused, and that a refused message leaves the mail box as it was.
import { chmod, mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildAlertMail, buildMail } from './factories/mail.js';
import { startTestMailsink, type TestMailsink } from './helpers/mailsink.js';

const running: TestMailsink[] = [];
async function start(options: Parameters<typeof startTestMailsink>[0] = {}) {
  const mailsink = await startTestMailsink(options);
  running.push(mailsink);
  return mailsink;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((mailsink) => mailsink.close()));
});

/** The SMTP error a send ended with (nodemailer puts the reply code on the error). */
async function sendError(mailsink: TestMailsink, ...args: Parameters<TestMailsink['send']>) {
  const error = await mailsink.send(...args).then(
    () => undefined,
    (caught: unknown) => caught as Error & { responseCode?: number; response?: string },
  );
  if (!error) throw new Error('the message was accepted');
  return error;
}

/** Speaks SMTP by hand: sends each command, returns every reply (multi-line replies joined). */
async function smtpDialog(port: number, commands: string[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  const replies: string[] = [];
  let buffer = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    // A reply is complete at a line "NNN text" (no dash after the code).
    const end = /(^|\r\n)\d{3} [^\r\n]*\r\n$/.exec(buffer);
    if (end) {
      replies.push(buffer);
      buffer = '';
      waiting?.();
    }
  });
  const nextReply = (count: number) =>
    new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      if (replies.length >= count) return resolve();
      waiting = () => replies.length >= count && resolve();
    });
  await nextReply(1);
  for (const command of commands) {
    socket.write(`${command}\r\n`);
    await nextReply(replies.length + 1);
  }
  socket.end();
  return replies;
}

async function indexIds(dataDir: string) {
  const index = JSON.parse(await readFile(path.join(dataDir, 'index.json'), 'utf8')) as {
    messages: { id: string }[];
  };
  return index.messages.map((message) => message.id);
}

/**
 * Makes writes in the data directory fail. As a normal user: the directories read-only. Root writes through
 * permissions, so then a file takes the place of the messages directory (every write in it fails, ENOTDIR).
 * Returns the undo.
 */
async function breakWrites(dataDir: string): Promise<() => Promise<void>> {
  const messages = path.join(dataDir, 'messages');
  if (process.getuid?.() !== 0) {
    await chmod(messages, 0o555);
    await chmod(dataDir, 0o555);
    return async () => {
      await chmod(dataDir, 0o750);
      await chmod(messages, 0o750);
    };
  }
  const aside = path.join(dataDir, 'messages-aside');
  await rename(messages, aside);
  await writeFile(messages, 'not a directory');
  return async () => {
    await rm(messages);
    await rename(aside, messages);
  };
}

describe('SMTP › receiving', () => {
  it('when an alert mail (text, HTML, attachment) is sent, then it is stored, listed, logged and counted', async () => {
    const mailsink = await start();
    const mail = buildAlertMail();

    const { id, response } = await mailsink.send(mail);

    expect(response).toMatch(/^250 /);
    const list = await mailsink.list();
    expect(list.total).toBe(1);
    expect(list.messages[0]).toEqual({
      id,
      receivedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      from: 'Alertmanager <alertmanager@lab.localhost>',
      to: ['ops@lab.localhost'],
      subject: mail.subject,
      size: expect.any(Number),
    });
    const detail = await mailsink.json<Record<string, unknown>>(`/api/messages/${id}`);
    expect(detail).toMatchObject({ id, subject: mail.subject });
    // Each part comes back with the line break that ends a MIME part.
    expect(detail.text).toBe(`${String(mail.text)}\n`);
    expect(detail.html).toBe(`${String(mail.html)}\n`);
    expect(detail.attachments).toEqual([
      expect.objectContaining({ index: 0, filename: 'runbook.pdf', contentType: 'application/pdf' }),
    ]);
    const files = await readdir(path.join(mailsink.dataDir, 'messages'));
    expect(files).toEqual([`${id}.eml`]);
    expect(await indexIds(mailsink.dataDir)).toEqual([id]);
    const logged = mailsink.logs.find((line) => line.message === 'message received');
    expect(logged).toMatchObject({
      id,
      from: list.messages[0]!.from,
      to: ['ops@lab.localhost'],
      subject: mail.subject,
    });
    expect(logged?.bytes).toBe(list.messages[0]!.size);
    expect(await mailsink.metric('mailsink_messages_received_total')).toBe(1);
    expect(await mailsink.metric('mailsink_messages_stored')).toBe(1);
  });

  it('when a client says EHLO, then no STARTTLS is offered and a plain session delivers', async () => {
    const mailsink = await start();

    const replies = await smtpDialog(mailsink.smtpPort, [
      'EHLO alertmanager.lab.localhost',
      'MAIL FROM:<alertmanager@lab.localhost>',
      'RCPT TO:<ops@lab.localhost>',
      'DATA',
      'Subject: by hand\r\nFrom: alertmanager@lab.localhost\r\n\r\nhello\r\n.',
      'QUIT',
    ]);

    expect(replies[1]).toMatch(/^250-/);
    expect(replies[1]).not.toMatch(/STARTTLS/);
    expect(replies[1]).toMatch(/SIZE 10485760/);
    expect(replies.slice(2).map((reply) => reply.slice(0, 3))).toEqual(['250', '250', '354', '250', '221']);
    expect((await mailsink.list()).messages[0]).toMatchObject({ subject: 'by hand', to: ['ops@lab.localhost'] });
  });

  it('when the client uses its defaults (opportunistic TLS) or sends credentials, then the mail is accepted', async () => {
    const mailsink = await start();

    await mailsink.send(buildMail({ subject: 'defaults' }), { ignoreTLS: false });
    await mailsink.send(buildMail({ subject: 'with credentials' }), { auth: { user: 'any', pass: 'thing' } });

    expect((await mailsink.list()).messages.map((m) => m.subject)).toEqual(['with credentials', 'defaults']);
  });

  it('when the headers name no recipient (Bcc only), then the envelope recipients are listed', async () => {
    const mailsink = await start();

    await mailsink.send(buildMail({ to: undefined, bcc: 'hidden@lab.localhost' }));

    expect((await mailsink.list()).messages[0]?.to).toEqual(['hidden@lab.localhost']);
  });
});

describe('SMTP › refusing', () => {
  it('when a mail is over MAILSINK_MAX_BYTES, then 552 and nothing is stored', async () => {
    const mailsink = await start({ env: { MAILSINK_MAX_BYTES: '64kb' } });

    const error = await sendError(mailsink, buildMail({ text: 'x'.repeat(100 * 1024) }));

    expect(error.responseCode).toBe(552);
    expect(error.response).toMatch(/exceeds fixed maximum message size of 65536 bytes/);
    expect((await mailsink.list()).total).toBe(0);
    expect(await readdir(path.join(mailsink.dataDir, 'messages'))).toEqual([]);
    expect(await mailsink.metric('mailsink_messages_rejected_total', 'reason="size"')).toBe(1);
    expect(await mailsink.metric('mailsink_messages_received_total')).toBe(0);
    expect(mailsink.logs.find((line) => line.message === 'message rejected')).toMatchObject({ reason: 'size' });
    // The session goes on: a mail under the limit right after is stored.
    await mailsink.send(buildMail());
    expect((await mailsink.list()).total).toBe(1);
  });

  it('when the client goes away in the middle of DATA, then nothing is stored and the server goes on', async () => {
    const mailsink = await start();
    const socket = net.connect(mailsink.smtpPort, '127.0.0.1');
    const replies: string[] = [];
    socket.setEncoding('utf8').on('data', (chunk: string) => replies.push(chunk));
    const until = async (code: string) => {
      while (!replies.join('').includes(`\r\n${code} `) && !replies.join('').startsWith(`${code} `)) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await until('220');
    socket.write('EHLO client\r\nMAIL FROM:<a@lab.localhost>\r\nRCPT TO:<ops@lab.localhost>\r\nDATA\r\n');
    await until('354');
    socket.write('Subject: cut short\r\n\r\nthe first half');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();

    await expect.poll(() => mailsink.logs.some((line) => line.message === 'message aborted by the client')).toBe(true);
    expect((await mailsink.list()).total).toBe(0);
    expect(await readdir(path.join(mailsink.dataDir, 'messages'))).toEqual([]);
    await mailsink.send(buildMail());
    expect((await mailsink.list()).total).toBe(1);
  });

  it('when the data directory cannot be written, then a 4xx (try again), and the index and files are as before', async () => {
    const mailsink = await start();
    const { id: kept } = await mailsink.send(buildMail({ subject: 'kept' }));
    const indexBefore = await readFile(path.join(mailsink.dataDir, 'index.json'), 'utf8');
    const restore = await breakWrites(mailsink.dataDir);

    let error;
    try {
      error = await sendError(mailsink, buildAlertMail());
    } finally {
      await restore();
    }

    expect(error.responseCode).toBe(451);
    expect((await mailsink.list()).messages.map((m) => m.id)).toEqual([kept]);
    expect(await readFile(path.join(mailsink.dataDir, 'index.json'), 'utf8')).toBe(indexBefore);
    expect(await readdir(path.join(mailsink.dataDir, 'messages'))).toEqual([`${kept}.eml`]);
    expect(await mailsink.metric('mailsink_messages_rejected_total', 'reason="storage"')).toBe(1);
    expect(mailsink.logs.find((line) => line.message === 'message not stored')).toMatchObject({ level: 'error' });
    // Writable again: the sender's retry is stored.
    const { id: retried } = await mailsink.send(buildMail({ subject: 'retried' }));
    expect(await indexIds(mailsink.dataDir)).toEqual([kept, retried]);
  });

  it('when the index cannot be replaced, then a 4xx, and the message file just written is removed', async () => {
    const mailsink = await start();
    const { id: kept } = await mailsink.send(buildMail());
    // A directory where the index's temporary file goes: open() fails (EISDIR), for root too.
    const blocker = path.join(mailsink.dataDir, '.index.json.tmp');
    await mkdir(blocker);

    const error = await sendError(mailsink, buildMail());
    await rmdir(blocker);

    expect(error.responseCode).toBe(451);
    expect(await indexIds(mailsink.dataDir)).toEqual([kept]);
    expect(await readdir(path.join(mailsink.dataDir, 'messages'))).toEqual([`${kept}.eml`]);
    expect((await mailsink.list()).total).toBe(1);
  });
});
