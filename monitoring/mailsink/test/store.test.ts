// The mail box over time: the cap, restarts on the same data directory, emptying, and what a crash leaves.
import { readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildMail } from './factories/mail.js';
import { startTestMailsink, tempDataDir, type TestMailsink } from './helpers/mailsink.js';

const running: TestMailsink[] = [];
const dataDirs: string[] = [];
async function start(options: Parameters<typeof startTestMailsink>[0] = {}) {
  const mailsink = await startTestMailsink(options);
  running.push(mailsink);
  return mailsink;
}
/** A data directory that outlives one instance (removed after the test). */
async function sharedDataDir() {
  const dir = await tempDataDir();
  dataDirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((mailsink) => mailsink.close()));
  await Promise.all(dataDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const emlFiles = async (dataDir: string) =>
  (await readdir(path.join(dataDir, 'messages'))).filter((name) => name.endsWith('.eml')).sort();

describe('mail box', () => {
  it('when more than MAILSINK_MAX_MESSAGES arrive, then the oldest are removed, from the list and the disk', async () => {
    const mailsink = await start({ env: { MAILSINK_MAX_MESSAGES: '3' } });
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push((await mailsink.send(buildMail({ subject: `mail ${n}` }))).id);

    const list = await mailsink.list();

    expect(list.messages.map((m) => m.subject)).toEqual(['mail 5', 'mail 4', 'mail 3']);
    expect(await emlFiles(mailsink.dataDir)).toEqual(
      ids
        .slice(2)
        .map((id) => `${id}.eml`)
        .sort(),
    );
    expect((await mailsink.fetch(`/api/messages/${ids[0]}`)).status).toBe(404);
    expect(await mailsink.metric('mailsink_messages_stored')).toBe(3);
    expect(await mailsink.metric('mailsink_messages_evicted_total')).toBe(2);
  });

  it('when many mails arrive at once over the cap, then the index and the files agree, each message once', async () => {
    const mailsink = await start({ env: { MAILSINK_MAX_MESSAGES: '10' } });

    const sent = await Promise.all(
      Array.from({ length: 25 }, (_, n) => mailsink.send(buildMail({ subject: `burst ${n}` }))),
    );

    const index = JSON.parse(await readFile(path.join(mailsink.dataDir, 'index.json'), 'utf8')) as {
      messages: { id: string }[];
    };
    const indexed = index.messages.map((m) => m.id);
    expect(indexed).toHaveLength(10);
    expect(new Set(indexed).size).toBe(10);
    expect(indexed.every((id) => sent.some((s) => s.id === id))).toBe(true);
    expect(await emlFiles(mailsink.dataDir)).toEqual(indexed.map((id) => `${id}.eml`).sort());
    expect((await mailsink.list()).messages.map((m) => m.id)).toEqual(indexed.toReversed());
  });

  it('when the app restarts on the same data directory, then it lists the same messages and serves them', async () => {
    const dataDir = await sharedDataDir();
    const first = await start({ dataDir });
    const sent = [];
    for (let n = 1; n <= 3; n++) sent.push(await first.send(buildMail({ subject: `before restart ${n}` })));
    const before = await first.list();
    await first.stop();

    const second = await start({ dataDir });

    expect(await second.list()).toEqual(before);
    const raw = await second.fetch(`/messages/${sent[0]!.id}/raw`);
    expect(raw.status).toBe(200);
    expect(await raw.text()).toContain('Subject: before restart 1');
    expect(await second.metric('mailsink_messages_stored')).toBe(3);
    const { id } = await second.send(buildMail({ subject: 'after restart' }));
    expect((await second.list()).messages[0]?.id).toBe(id);
  });

  it('when DELETE /api/messages, then the box is empty, on disk too, and new mail still arrives', async () => {
    const mailsink = await start();
    await mailsink.send(buildMail());
    await mailsink.send(buildMail());

    const response = await mailsink.fetch('/api/messages', { method: 'DELETE' });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ deleted: 2 });
    expect((await mailsink.list()).total).toBe(0);
    expect(await emlFiles(mailsink.dataDir)).toEqual([]);
    expect(JSON.parse(await readFile(path.join(mailsink.dataDir, 'index.json'), 'utf8'))).toEqual({
      version: 1,
      messages: [],
    });
    expect(await mailsink.metric('mailsink_messages_stored')).toBe(0);
    await mailsink.send(buildMail());
    expect((await mailsink.list()).total).toBe(1);
  });

  it('when a crash left temporary files, unlisted message files and entries without a file, then opening tidies them', async () => {
    const dataDir = await sharedDataDir();
    const first = await start({ dataDir });
    const { id: kept } = await first.send(buildMail({ subject: 'kept' }));
    const { id: lost } = await first.send(buildMail({ subject: 'file lost' }));
    await first.stop();
    const messages = path.join(dataDir, 'messages');
    await rm(path.join(messages, `${lost}.eml`));
    // Written but never indexed (the crash came before the index): its client got no 250.
    const unlisted = 'mwz00000-0123456789ab';
    await writeFile(path.join(messages, `${unlisted}.eml`), 'Subject: unlisted\r\n\r\nbody\r\n');
    await writeFile(path.join(messages, `.${unlisted}.eml.tmp`), 'Subject: half');
    await writeFile(path.join(dataDir, '.index.json.tmp'), '{"version":1,"mess');

    const second = await start({ dataDir });

    expect((await second.list()).messages.map((m) => m.id)).toEqual([kept]);
    expect(await readdir(messages)).toEqual([`${kept}.eml`]);
    expect(await readdir(dataDir)).toEqual(expect.arrayContaining(['index.json', 'messages']));
    expect(await readdir(dataDir)).not.toContain('.index.json.tmp');
    expect(second.logs.map((line) => line.message)).toEqual(
      expect.arrayContaining(['index entries without a file dropped', 'unlisted message files removed']),
    );
  });

  it('when the index is unreadable, then it is moved aside and rebuilt from the message files, oldest first', async () => {
    const dataDir = await sharedDataDir();
    const first = await start({ dataDir });
    const older = await first.send(buildMail({ subject: 'older', to: 'Ops <ops@lab.localhost>' }));
    const newer = await first.send(buildMail({ subject: 'newer' }));
    await first.stop();
    const messages = path.join(dataDir, 'messages');
    await utimes(path.join(messages, `${older.id}.eml`), new Date('2025-01-01'), new Date('2025-01-01'));
    await writeFile(path.join(dataDir, 'index.json'), '{"version":1,"messages":[{"id":');

    const second = await start({ dataDir });

    const list = await second.list();
    expect(list.messages.map((m) => m.subject)).toEqual(['newer', 'older']);
    expect(list.messages[1]).toMatchObject({ id: older.id, to: ['Ops <ops@lab.localhost>'] });
    expect(list.messages[0]?.id).toBe(newer.id);
    expect((await readdir(dataDir)).some((name) => name.startsWith('index.json.corrupt-'))).toBe(true);
    expect(second.logs.map((line) => line.message)).toContain(
      'index unreadable; moved aside, rebuilding from the message files',
    );
  });

  it('when MAILSINK_MAX_MESSAGES is lowered, then the next start keeps only the newest', async () => {
    const dataDir = await sharedDataDir();
    const first = await start({ dataDir });
    for (let n = 1; n <= 4; n++) await first.send(buildMail({ subject: `mail ${n}` }));
    await first.stop();

    const second = await start({ dataDir, env: { MAILSINK_MAX_MESSAGES: '2' } });

    expect((await second.list()).messages.map((m) => m.subject)).toEqual(['mail 4', 'mail 3']);
    expect(await emlFiles(dataDir)).toHaveLength(2);
  });
});
