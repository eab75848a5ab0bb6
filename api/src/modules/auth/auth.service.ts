// Login (argon2id, throttled per account+IP and per IP) and short-lived HS256 JWTs.
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
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
  private readonly byAccountAndIp: RateLimiterMemory;
  private readonly byIp: RateLimiterMemory;

  constructor(
    private readonly options: AuthOptions,
    private readonly users: UsersRepository,
    private readonly metrics: Metrics,
  ) {
    this.key = new TextEncoder().encode(options.jwtSecret);
    this.byAccountAndIp = new RateLimiterMemory({
      keyPrefix: 'login_account_ip',
      points: options.loginMaxFailures,
      duration: options.loginBlockSeconds,
      blockDuration: options.loginBlockSeconds,
    });
    this.byIp = new RateLimiterMemory({
      keyPrefix: 'login_ip',
      points: options.loginMaxFailures * IP_ALLOWANCE_FACTOR,
      duration: options.loginBlockSeconds,
      blockDuration: options.loginBlockSeconds,
    });
  }

  async login(email: string, password: string, ip: string) {
    const accountKey = `${email}|${ip}`;
    await this.refuseIfThrottled(accountKey, ip);

    const user = await this.users.findCredentialsByEmail(email);
    const valid = await verifyPassword(user?.passwordHash ?? DUMMY_HASH, password);
    if (!user || !valid || !user.passwordHash || !user.active) {
      const reason = !user || !valid || !user.passwordHash ? 'bad_credentials' : 'inactive';
      this.metrics.loginFailures.inc({ reason });
      await Promise.all([
        this.byAccountAndIp.penalty(accountKey).catch(() => undefined),
        this.byIp.penalty(ip).catch(() => undefined),
      ]);
      // One answer for unknown email, wrong password and inactive account: no account enumeration.
      throw new AppError('invalid-credentials', 'email or password is incorrect', 401);
    }
    await this.byAccountAndIp.delete(accountKey);

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

  private async refuseIfThrottled(accountKey: string, ip: string) {
    const [account, address] = await Promise.all([this.byAccountAndIp.get(accountKey), this.byIp.get(ip)]);
    const blocked = [
      [account, this.options.loginMaxFailures],
      [address, this.options.loginMaxFailures * IP_ALLOWANCE_FACTOR],
    ].filter(([state, points]) => state instanceof RateLimiterRes && state.consumedPoints >= (points as number));
    if (blocked.length === 0) return;
    const retryAfter = Math.max(
      ...blocked.map(([state]) => Math.ceil((state as RateLimiterRes).msBeforeNext / 1000)),
      1,
    );
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
