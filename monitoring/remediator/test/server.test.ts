// The process wiring: start on port 0 over real HTTP (dry-run, the Docker client built but never called), answer
// a notification, shut down cleanly with the audit on disk.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { startServer } from '../src/start.js';
import { buildConfig, buildPayload, capturingLogger, latency } from './helpers/factories.js';

describe('startServer', () => {
  it('when started in dry-run, then it serves over HTTP and a shutdown leaves the audit on disk and stops listening', async () => {
    const { config, token, auditFile } = await buildConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      REMEDIATOR_DRY_RUN: 'true',
      DOCKER_SOCKET: '/nonexistent/docker.sock',
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
