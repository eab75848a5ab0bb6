// Which failures mean "the database cannot be used right now" (a failover, a restart, a full server): the request
// may succeed if retried a little later, so the API answers 503 with Retry-After instead of a 500.
//
// They reach the API in three shapes, all seen against a real PostgreSQL (api/test/db-unavailable.api.test.ts):
//   - Prisma's errors, with the driver adapter's own error in meta.driverAdapterError.cause (`kind`, and for a
//     server error its SQLSTATE in `code`), or a Prisma connection code (P1001 can't reach the server, ...);
//   - pg-pool's plain errors when a connection cannot be opened ("Connection terminated due to connection timeout",
//     "Connection terminated unexpectedly": db-router accepting the connection while no leader answers);
//   - Node's socket errors (ECONNREFUSED, ECONNRESET, ...), for anything that talks to pg directly.

/** Why the database is unavailable, as the log and the metrics name it. */
export type UnavailableReason =
  'unreachable' | 'connect-timeout' | 'connection-lost' | 'too-many-connections' | 'read-only' | 'shutting-down';

/** The adapter's error kinds (@prisma/driver-adapter-utils MappedError) that are about the connection. */
const ADAPTER_KINDS: Record<string, UnavailableReason> = {
  DatabaseNotReachable: 'unreachable',
  ConnectionClosed: 'connection-lost',
  SocketTimeout: 'connect-timeout',
  TooManyConnections: 'too-many-connections',
};

/** Prisma's own codes for the same (https://www.prisma.io/docs/orm/reference/error-reference). */
const PRISMA_CODES: Record<string, UnavailableReason> = {
  P1001: 'unreachable',
  P1002: 'connect-timeout',
  P1008: 'connect-timeout',
  P1017: 'connection-lost',
  P2024: 'connect-timeout',
  P2037: 'too-many-connections',
};

/** PostgreSQL SQLSTATEs: class 08 (connection exception) and the few others a failover or a full server gives. */
function sqlstateReason(code: string): UnavailableReason | undefined {
  if (code.startsWith('08')) return 'connection-lost';
  switch (code) {
    case '57P01': // admin_shutdown: the server (or Patroni demoting it) ends the session
    case '57P02': // crash_shutdown
      return 'connection-lost';
    case '57P03': // cannot_connect_now: starting up, shutting down, in recovery
      return 'shutting-down';
    case '53300': // too_many_connections
      return 'too-many-connections';
    case '25006': // read_only_sql_transaction: db-rw still points at a member that was just demoted
      return 'read-only';
  }
  return undefined;
}

const SOCKET_CODES: Record<string, UnavailableReason> = {
  ECONNREFUSED: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  ETIMEDOUT: 'connect-timeout',
  ECONNRESET: 'connection-lost',
  EPIPE: 'connection-lost',
};

/** pg and pg-pool's messages for a connection that could not be made or was lost (they carry no code). */
const PG_MESSAGES: [RegExp, UnavailableReason][] = [
  [/^Connection terminated due to connection timeout/, 'connect-timeout'],
  [/^timeout exceeded when trying to connect/, 'connect-timeout'],
  [/^Connection terminated unexpectedly/, 'connection-lost'],
  [/^Connection terminated$/, 'connection-lost'],
  [/^Client has encountered a connection error and is not queryable/, 'connection-lost'],
];

interface ErrorShape {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown } } };
}

function reasonOf(error: ErrorShape): UnavailableReason | undefined {
  const adapter = error.meta?.driverAdapterError?.cause;
  if (adapter) {
    if (typeof adapter.kind === 'string' && ADAPTER_KINDS[adapter.kind]) return ADAPTER_KINDS[adapter.kind];
    if (adapter.kind === 'postgres' && typeof adapter.code === 'string') return sqlstateReason(adapter.code);
  }
  if (typeof error.code === 'string') {
    const reason = PRISMA_CODES[error.code] ?? SOCKET_CODES[error.code] ?? sqlstateReason(error.code);
    if (reason) return reason;
  }
  if (typeof error.message === 'string')
    return PG_MESSAGES.find(([pattern]) => pattern.test(error.message as string))?.[1];
  return undefined;
}

/** The reason the database is unavailable when `error` says so (it or one of its causes), else undefined. */
export function databaseUnavailable(error: unknown): UnavailableReason | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === 'object' && !seen.has(current);) {
    seen.add(current);
    const reason = reasonOf(current as ErrorShape);
    if (reason) return reason;
    current = (current as ErrorShape).cause;
  }
  return undefined;
}
