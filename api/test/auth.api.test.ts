import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { startTestApp, type TestApp } from './helpers/app.js';
import { createUser, signedInUser, tokenFor } from './factories/users.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_BLOCK_SECONDS: '60' } });
});
afterAll(() => app?.close());

describe('POST /v1/auth/login', () => {
  it('when the credentials are right, then 200 with a bearer token and the user, no hash', async () => {
    const user = await createUser(app.prisma);
    const response = await app.http().post('/v1/auth/login').send({ email: user.email, password: user.password });
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 900,
      user: { id: user.id, email: user.email },
    });
    expect(response.body.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(JSON.stringify(response.body)).not.toContain('passwordHash');
  });

  it('when the email differs only by case, then it still logs in', async () => {
    const user = await createUser(app.prisma);
    const response = await app
      .http()
      .post('/v1/auth/login')
      .send({ email: user.email.toUpperCase(), password: user.password });
    expect(response.status).toBe(200);
  });

  it('when the password is wrong, the email unknown or the account inactive, then the same 401', async () => {
    const user = await createUser(app.prisma);
    const inactive = await createUser(app.prisma, { active: false });
    const answers = await Promise.all([
      app.http().post('/v1/auth/login').send({ email: user.email, password: 'wrong-password-123' }),
      app.http().post('/v1/auth/login').send({ email: 'nobody@example.com', password: 'whatever-123456' }),
      app.http().post('/v1/auth/login').send({ email: inactive.email, password: inactive.password }),
    ]);
    for (const response of answers) {
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.body).toMatchObject({
        status: 401,
        code: 'invalid-credentials',
        detail: 'email or password is incorrect',
      });
    }
    expect(await app.metrics()).toMatch(/auth_login_failures_total\{reason="bad_credentials"\} [2-9]/);
  });

  it('when an account keeps failing from one address, then 429 with Retry-After, even for the right password', async () => {
    const user = await createUser(app.prisma);
    for (let i = 0; i < 3; i++) {
      const response = await app
        .http()
        .post('/v1/auth/login')
        .send({ email: user.email, password: `bad-password-${i}` });
      expect(response.status).toBe(401);
    }
    const blocked = await app.http().post('/v1/auth/login').send({ email: user.email, password: user.password });
    expect(blocked.status).toBe(429);
    expect(blocked.body.code).toBe('too-many-login-attempts');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not blocked for this account.
    const elsewhere = await app
      .http()
      .post('/v1/auth/login')
      .set('X-Forwarded-For', '203.0.113.9')
      .send({ email: user.email, password: user.password });
    expect(elsewhere.status).toBe(200);
  });

  it('when a burst of wrong passwords is spread over two API tasks, then only the allowance is checked, the rest 429', async () => {
    // A second task on the same database: the counters are the database's, not each process's.
    const other = await startTestApp({
      database: app.database,
      env: { LOGIN_MAX_FAILURES: '3', LOGIN_BLOCK_SECONDS: '60' },
    });
    try {
      const user = await createUser(app.prisma);
      const attempt = (task: TestApp, i: number) =>
        task
          .http()
          .post('/v1/auth/login')
          .set('X-Forwarded-For', '198.51.100.7')
          .send({ email: user.email, password: `bad-password-${i}` });
      const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => attempt(i % 2 ? other : app, i)));
      const statuses = answers.map((response) => response.status).sort();
      expect(statuses).toEqual([...Array<number>(3).fill(401), ...Array<number>(21).fill(429)]);
      const right = { email: user.email, password: user.password };
      const here = await other.http().post('/v1/auth/login').set('X-Forwarded-For', '198.51.100.7').send(right);
      expect(here.status).toBe(429);
      const elsewhere = await other.http().post('/v1/auth/login').set('X-Forwarded-For', '198.51.100.8').send(right);
      expect(elsewhere.status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('when one address fails across many accounts, then it is refused for every account after 20 allowances', async () => {
    const from = '198.51.100.20';
    const answers = await Promise.all(
      Array.from({ length: 61 }, (_, i) =>
        app
          .http()
          .post('/v1/auth/login')
          .set('X-Forwarded-For', from)
          .send({ email: `nobody-${i}@example.com`, password: 'whatever-123456' }),
      ),
    );
    const statuses = answers.map((response) => response.status).sort();
    expect(statuses).toEqual([...Array<number>(60).fill(401), 429]);
    const user = await createUser(app.prisma);
    const right = { email: user.email, password: user.password };
    expect((await app.http().post('/v1/auth/login').set('X-Forwarded-For', from).send(right)).status).toBe(429);
    expect((await app.http().post('/v1/auth/login').set('X-Forwarded-For', '198.51.100.21').send(right)).status).toBe(
      200,
    );
  });

  it('when the right password follows failures, then the address gets its attempts back', async () => {
    const user = await createUser(app.prisma);
    const from = '198.51.100.30';
    const login = (password: string) =>
      app.http().post('/v1/auth/login').set('X-Forwarded-For', from).send({ email: user.email, password });
    for (let round = 0; round < 3; round++) {
      expect((await login('bad-password')).status).toBe(401);
      expect((await login('bad-password')).status).toBe(401);
      expect((await login(user.password)).status).toBe(200);
    }
  });

  it('when the body is malformed, has unknown fields or is not JSON, then 400/415 and no 5xx', async () => {
    const malformed = await app.http().post('/v1/auth/login').set('Content-Type', 'application/json').send('{"email":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('malformed-json');
    const extra = await app.http().post('/v1/auth/login').send({ email: 'a@example.com', password: 'x', admin: true });
    expect(extra.status).toBe(400);
    expect(extra.body.code).toBe('validation-failed');
    const form = await app.http().post('/v1/auth/login').type('form').send('email=a@example.com&password=x');
    expect(form.status).toBe(415);
  });

  it('never writes the password or the token to the logs', async () => {
    const user = await createUser(app.prisma);
    const token = await tokenFor(app, user);
    await app.http().get('/v1/auth/me').set('Authorization', `Bearer ${token}`);
    await app.http().post('/v1/auth/login').send({ email: user.email, password: 'a-wrong-password' });
    const logs = app.rawLogs();
    expect(logs).not.toContain(user.password);
    expect(logs).not.toContain(token);
    expect(logs).not.toContain('a-wrong-password');
  });
});

describe('GET /v1/auth/me', () => {
  it('when the token is valid, then the caller', async () => {
    const { user, auth } = await signedInUser(app);
    const response = await app.http().get('/v1/auth/me').set(auth);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: user.id, email: user.email, role: 'user', active: true });
  });

  it('when there is no token, then 401 with WWW-Authenticate', async () => {
    const response = await app.http().get('/v1/auth/me');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.body.code).toBe('unauthenticated');
  });

  it('when the token is forged, expired, alg:none or for a deactivated user, then 401', async () => {
    const { user, token } = await signedInUser(app);
    const [header, payload] = token.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(user.id))
      .setIssuer('swarmlab')
      .setAudience('swarmlab-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const tampered = `${header}.${Buffer.from(JSON.stringify({ sub: String(user.id), role: 'admin' })).toString('base64url')}.${token.split('.')[2]}`;
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(user.id))
      .setIssuer('swarmlab')
      .setAudience('swarmlab-api')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 1800)
      .sign(new TextEncoder().encode(app.config.auth.jwtSecret));
    for (const bad of [none, forged, tampered, expired, 'not-a-token', 'a.b.c']) {
      const response = await app.http().get('/v1/auth/me').set('Authorization', `Bearer ${bad}`);
      expect(response.status, bad).toBe(401);
    }
    const basic = await app.http().get('/v1/auth/me').set('Authorization', 'Basic dXNlcjpwYXNz');
    expect(basic.status).toBe(401);

    await app.prisma.user.update({ where: { id: user.id }, data: { active: false } });
    const afterDeactivation = await app.http().get('/v1/auth/me').set('Authorization', `Bearer ${token}`);
    expect(afterDeactivation.status).toBe(401);
  });
});
