// The process (src/server.ts, run through tsx): configuration errors, JSON logs, SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDataDir } from './helpers/mailsink.js';

const SERVER = fileURLToPath(new URL('../src/server.ts', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

interface RunningProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
  waitForLog(message: string): Promise<Record<string, unknown>>;
}

function run(env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', SMTP_PORT: '0', HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => child.exitCode === null && child.kill('SIGKILL'));
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete.filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
    waiters.splice(0).forEach((wake) => wake());
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    async waitForLog(message) {
      for (;;) {
        const line = lines.find((candidate) => candidate.message === message);
        if (line) return line;
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before "${message}": ${stderr}`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), exited]);
      }
    },
  };
}

describe('the process', () => {
  it('when a variable is wrong, then it names it on stderr and exits 1', async () => {
    const mailsink = run({ MAILSINK_DATA_DIR: 'relative', MAILSINK_MAX_MESSAGES: 'many' });

    expect(await mailsink.exited).toBe(1);
    expect(mailsink.stderr()).toContain('MAILSINK_DATA_DIR: must be an absolute path');
    expect(mailsink.stderr()).toContain('MAILSINK_MAX_MESSAGES: must be a whole number');
  });

  it('when the password file cannot be read, then it says which secret to mount and exits 1', async () => {
    const dataDir = await tempDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const mailsink = run({ MAILSINK_DATA_DIR: dataDir, MAILSINK_PASSWORD_FILE: '/nonexistent/mailsink_password' });

    expect(await mailsink.exited).toBe(1);
    expect(JSON.stringify(mailsink.lines) + mailsink.stderr()).toContain(
      'MAILSINK_PASSWORD_FILE /nonexistent/mailsink_password cannot be read (ENOENT): mount the mailsink_password secret',
    );
  });

  it('when SIGTERM arrives with an SMTP session open, then both servers close and it exits 0 in time', async () => {
    const dataDir = await tempDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const secret = path.join(await tempDataDir(), 'mailsink_password');
    cleanups.push(() => rm(path.dirname(secret), { recursive: true, force: true }));
    await writeFile(secret, 'a-password\n');
    const mailsink = run({ MAILSINK_DATA_DIR: dataDir, MAILSINK_PASSWORD_FILE: secret });
    const { smtpPort, httpPort } = (await mailsink.waitForLog('listening')) as { smtpPort: number; httpPort: number };
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
    // A client that connected and says nothing: cut (421) after the SMTP close timeout, 5 s.
    const idle = net.connect(smtpPort, '127.0.0.1');
    cleanups.push(async () => idle.destroy());
    await new Promise((resolve) => idle.once('data', resolve));

    const started = Date.now();
    mailsink.child.kill('SIGTERM');

    expect(await mailsink.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(mailsink.lines.map((line) => line.message)).toEqual(
      expect.arrayContaining(['mail box opened', 'listening', 'shutdown started', 'shutdown complete']),
    );
    expect(mailsink.lines.every((line) => line.service === 'swarmlab-mailsink' && line.timestamp)).toBe(true);
  });
});
