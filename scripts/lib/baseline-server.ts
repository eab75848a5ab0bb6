// The floor bench:api measures the API against: node:http and one pg Pool answering the same three users
// queries as the API, with the same work (password hashing on create) minus authentication, validation, logging
// and metrics.
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { hashPassword } from '../../api/src/lib/passwords.js';

const COLUMNS = 'id, email, name, role, active, created_at AS "createdAt", updated_at AS "updatedAt"';

interface Answer {
  status: number;
  body: unknown;
}

async function readJson(req: IncomingMessage): Promise<{ email: string; name: string; password: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function answer(pool: pg.Pool, req: IncomingMessage): Promise<Answer> {
  const url = new URL(req.url ?? '/', 'http://baseline');
  const byId = /^\/v1\/users\/(\d+)$/.exec(url.pathname);
  if (req.method === 'GET' && url.pathname === '/v1/users') {
    const { rows } = await pool.query(`SELECT ${COLUMNS} FROM app.users ORDER BY id LIMIT 20`);
    return { status: 200, body: { data: rows, nextCursor: null } };
  }
  if (req.method === 'GET' && byId) {
    const { rows } = await pool.query(`SELECT ${COLUMNS} FROM app.users WHERE id = $1`, [Number(byId[1])]);
    return rows[0] ? { status: 200, body: rows[0] } : { status: 404, body: { code: 'user-not-found' } };
  }
  if (req.method === 'POST' && url.pathname === '/v1/users') {
    const input = await readJson(req);
    const { rows } = await pool.query(
      `INSERT INTO app.users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
      [input.email.toLowerCase(), input.name, await hashPassword(input.password)],
    );
    return { status: 201, body: rows[0] };
  }
  return { status: 404, body: { code: 'not-found' } };
}

export async function startBaselineServer(options: { databaseUrl: string; poolMax: number }) {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolMax });
  const server = createServer((req, res) => {
    answer(pool, req).then(
      ({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
      (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(error.message),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.end();
    },
  };
}
