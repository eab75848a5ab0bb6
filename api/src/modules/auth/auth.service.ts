// Login (argon2id, throttled per account+IP and per IP) and short-lived HS256 JWTs.
// The throttle's counters live in PostgreSQL (app.login_throttle), so every API task counts against one
// allowance, and each attempt is counted (an atomic upsert) before its password is checked: a burst of
// concurrent guesses spread over the replicas gets exactly the allowance checked, the rest 429.
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError, unauthenticated } from '../../lib/errors.js';
import type { Metrics } from '../../lib/metrics.js';
import { DUMMY_HASH, verifyPassword } from '../../lib/passwords.js';
import type { UsersRepository } from '../users/users.repository.js';
import type { UserDto } from '../users/users.schemas.js';

export type AuthUser = Pick<UserDto, 'id' | 'email' | 'name' | 'role'>;

interface AuthOptions {
  jwtSecret: string;
  jwtTtlSeconds: number;
  jwtIssuer: string;
  loginMaxFailures: number;
  loginBlockSeconds: number;
}

const AUDIENCE = 'swarmlab-api';
/** An address gets this many times an account's allowance before it is blocked across all accounts. */
const IP_ALLOWANCE_FACTOR = 20;

export class AuthService {
  private readonly key: Uint8Array;
  private readonly byAccountAndIp: RateLimiterPostgres;
  private readonly byIp: RateLimiterPostgres;

  constructor(
    private readonly options: AuthOptions,
    private readonly users: UsersRepository,
    private readonly metrics: Metrics,
    /** A pool on the primary: the counters are written on every attempt. */
    throttleStore: pg.Pool,
  ) {
    this.key = new TextEncoder().encode(options.jwtSecret);
    const store = {
      storeClient: throttleStore,
      // WaitingPool is a pg.Pool by another name: the limiter cannot tell from the constructor's name.
      storeType: 'pool',
      schemaName: 'app',
      tableName: 'login_throttle',
      // The table is the migration's (1796601600000_login-throttle.sql): the app role cannot create tables.
      tableCreated: true,
      duration: options.loginBlockSeconds,
      blockDuration: options.loginBlockSeconds,
    };
    this.byAccountAndIp = new RateLimiterPostgres({
      ...store,
      keyPrefix: 'login_account_ip',
      points: options.loginMaxFailures,
    });
    this.byIp = new RateLimiterPostgres({
      ...store,
      keyPrefix: 'login_ip',
      points: options.loginMaxFailures * IP_ALLOWANCE_FACTOR,
    });
  }

  async login(email: string, password: string, ip: string) {
    const accountKey = `${email}|${ip}`;
    await this.countAttempt(accountKey, ip);

    const user = await this.users.findCredentialsByEmail(email);
    const valid = await verifyPassword(user?.passwordHash ?? DUMMY_HASH, password);
    if (!user || !valid || !user.passwordHash || !user.active) {
      const reason = !user || !valid || !user.passwordHash ? 'bad_credentials' : 'inactive';
      this.metrics.loginFailures.inc({ reason });
      // One answer for unknown email, wrong password and inactive account: no account enumeration.
      throw new AppError('invalid-credentials', 'email or password is incorrect', 401);
    }
    // Only failures count: a success clears the account's count and gives the address its attempt back.
    await Promise.all([this.byAccountAndIp.delete(accountKey), this.byIp.reward(ip, 1)]);

    const authUser: AuthUser = { id: user.id, email: user.email, name: user.name, role: user.role };
    const accessToken = await new SignJWT({ role: user.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(user.id))
      .setIssuer(this.options.jwtIssuer)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(`${this.options.jwtTtlSeconds}s`)
      .sign(this.key);
    return { accessToken, tokenType: 'Bearer' as const, expiresIn: this.options.jwtTtlSeconds, user: authUser };
  }

  /** Counts the attempt against the account at this address and against the address; 429 when either is spent. */
  private async countAttempt(accountKey: string, ip: string) {
    const refusals = (
      await Promise.allSettled([this.byAccountAndIp.consume(accountKey), this.byIp.consume(ip)])
    ).flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    // Anything but a limiter's refusal is the store failing (the database): the request fails as a database error.
    const failure = refusals.find((reason) => !(reason instanceof RateLimiterRes));
    if (failure) throw failure;
    if (refusals.length === 0) return;
    const retryAfter = Math.max(...refusals.map((res) => Math.ceil((res as RateLimiterRes).msBeforeNext / 1000)), 1);
    this.metrics.loginFailures.inc({ reason: 'throttled' });
    throw new AppError('too-many-login-attempts', `too many failed logins; try again in ${retryAfter} s`, 429, {
      headers: { 'Retry-After': String(retryAfter) },
    });
  }

  /** Verifies a bearer token and loads its user, who must still exist and be active. */
  async authenticate(token: string): Promise<AuthUser> {
    let subject: string | undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: this.options.jwtIssuer,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      subject = payload.sub;
    } catch {
      throw unauthenticated('the access token is invalid or expired');
    }
    const id = Number(subject);
    const user = Number.isInteger(id) && id > 0 ? await this.users.findActiveById(id) : undefined;
    if (!user) throw unauthenticated('the access token is invalid or expired');
    return { id: user.id, email: user.email, name: user.name, role: user.role };
  }
}
