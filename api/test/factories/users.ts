// Test data: build* is pure, create* persists through the superuser client.
import { randomBytes } from 'node:crypto';
import type { PrismaClient } from '../../src/generated/prisma/client.js';
import { hashPassword } from '../../src/lib/passwords.js';
import type { TestApp } from '../helpers/app.js';

export interface UserInput {
  email: string;
  name: string;
  role: 'admin' | 'user';
  active: boolean;
  password: string;
}

export function buildUser(overrides: Partial<UserInput> = {}): UserInput {
  const tag = randomBytes(5).toString('hex');
  return {
    email: `user-${tag}@example.com`,
    name: `User ${tag}`,
    role: 'user',
    active: true,
    password: `pw-${randomBytes(9).toString('base64url')}`,
    ...overrides,
  };
}

export async function createUser(prisma: PrismaClient, overrides: Partial<UserInput> = {}) {
  const input = buildUser(overrides);
  const { password, ...data } = input;
  const user = await prisma.user.create({ data: { ...data, passwordHash: await hashPassword(password) } });
  return { ...user, password };
}

/** Logs in through the API and returns the bearer token. */
export async function tokenFor(app: TestApp, user: { email: string; password: string }): Promise<string> {
  const response = await app.http().post('/v1/auth/login').send({ email: user.email, password: user.password });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${response.text}`);
  return (response.body as { accessToken: string }).accessToken;
}

/** A persisted user and their token, ready for authenticated requests. */
export async function signedInUser(app: TestApp, overrides: Partial<UserInput> = {}) {
  const user = await createUser(app.prisma, overrides);
  const token = await tokenFor(app, user);
  return { user, token, auth: { Authorization: `Bearer ${token}` } };
}
