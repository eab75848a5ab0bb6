// The process wiring: start on port 0 over real HTTP (dry-run, the Docker client built but never called), answer
// a notification, shut down cleanly with the audit on disk.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer } from '../src/start.js';
import { buildConfig, buildPayload, capturingLogger, latency, tempDir } from './helpers/factories.js';

describe('startServer', () => {
  it('when the audit file cannot be written, then start-up fails and says what to do', async () => {
    // A file where the directory should be: refused as a volume owned by another user is (the tests run as root).
    const blocker = path.join(await tempDir(), 'not-a-directory');
    await writeFile(blocker, '');
    const { config } = await buildConfig({ AUDIT_FILE: path.join(blocker, 'audit.jsonl'), REMEDIATOR_DRY_RUN: 'true' });
    const { logger } = capturingLogger();
    await expect(startServer(config, logger)).rejects.toThrow(
      /cannot write the audit file .*not-a-directory\/audit\.jsonl \(E[A-Z]+\) as uid \d+: give its directory to that user/,
    );
  });

  it('when started in dry-run, then it serves over HTTP and a shutdown leaves the audit on disk and stops listening', async () => {
    const { config, token, auditFile } = await buildConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      REMEDIATOR_DRY_RUN: 'true',
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    });
    const { logger, lines } = capturingLogger();
    const { port, shutdown, server } = await startServer(config, logger);
    const base = `http://127.0.0.1:${port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const res = await fetch(`${base}/alerts`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(buildPayload([latency()])),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { decisions: unknown[] };
      expect(body.decisions[0]).toMatchObject({ action: 'scale_out', result: 'dry_run' });
    } finally {
      await shutdown('SIGTERM');
    }
    expect(server.listening).toBe(false);
    expect(JSON.parse(await readFile(auditFile, 'utf8'))).toMatchObject({ action: 'scale_out', result: 'dry_run' });
    expect(lines.map((line) => line.message)).toEqual(
      expect.arrayContaining(['listening', 'shutdown started', 'shutdown complete']),
    );
    expect(lines.find((line) => line.message === 'listening')).toMatchObject({ dryRun: true, port });
  });
});
