// Throwaway PostgreSQL clusters from the local binaries: a temp dir, a free port on 127.0.0.1, fsync off.
// Used by the test suites and by `npm run api:dev`. A streaming replica is made with `pg_basebackup -R`.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';

export interface PgCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dataDir: string;
  readonly superuser: 'postgres';
  readonly password: string;
  /** A connection URL for `user` (the superuser by default) to `database`. */
  url(database: string, user?: string, password?: string): string;
  /** Runs a SQL file with psql as the superuser, with `vars` as psql variables (-v name=value). */
  psqlFile(database: string, file: string, vars?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its files. Safe to call twice. */
  destroy(): Promise<void>;
}

const INSTALL_HINT = 'apt-get update && apt-get install -y postgresql-15';

export function findPgBinDir(): string {
  const candidates = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'];
  return candidates.find((dir) => existsSync(path.join(dir, 'pg_ctl'))) ?? '';
}

/** Finds the server binaries; installs them from Debian when possible, else fails with the command to run. */
export async function requirePgBinaries(): Promise<string> {
  let dir = findPgBinDir();
  if (!dir && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error(`PostgreSQL server binaries not found; installing them: ${INSTALL_HINT}`);
    await $({ quiet: true })`apt-get update`;
    await $({
      quiet: true,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })`apt-get install -y postgresql-15`;
    dir = findPgBinDir();
  }
  if (!dir) {
    throw new Error(`PostgreSQL 15 server binaries (initdb, pg_ctl) are missing. Install them with: ${INSTALL_HINT}`);
  }
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface Owner {
  /** Prefix that runs a command as the cluster's owner: initdb refuses to run as root. */
  prefix: string[];
  uid?: number;
  gid?: number;
}

export async function clusterOwner(): Promise<Owner> {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const uid = Number((await $({ quiet: true })`id -u postgres`.nothrow()).stdout.trim());
  if (!uid) throw new Error('running as root needs a "postgres" user to own test clusters: useradd --system postgres');
  const gid = Number((await $({ quiet: true })`id -g postgres`).stdout.trim());
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

const SERVER_SETTINGS = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  wal_level: 'replica',
  max_wal_senders: '5',
  max_connections: '200',
  hot_standby: 'on',
  wal_keep_size: '64MB',
  log_min_messages: 'warning',
};

interface ClusterOptions {
  /** Make a streaming replica of this cluster instead of a new one. */
  replicaOf?: PgCluster;
  settings?: Record<string, string>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const bin = await requirePgBinaries();
  const owner = await clusterOwner();
  const root = await mkdtemp(path.join(tmpdir(), 'swarmlab-pg-'));
  if (owner.uid !== undefined) await chown(root, owner.uid, owner.gid ?? owner.uid);
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  const primary = options.replicaOf;
  const password = primary?.password ?? randomBytes(18).toString('base64url');
  const as = owner.prefix;
  const quiet = $({ quiet: true, cwd: root });

  if (primary) {
    await quiet({
      env: { ...process.env, PGPASSWORD: primary.password },
    })`${as} ${bin}/pg_basebackup -h 127.0.0.1 -p ${primary.port} -U postgres -D ${dataDir} -R -X stream -c fast`;
  } else {
    const pwFile = path.join(root, 'pwfile');
    await quiet`${as} sh -c ${`umask 077 && printf %s "$0" > ${pwFile}`} ${password}`;
    await quiet`${as} ${bin}/initdb -D ${dataDir} -U postgres --pwfile=${pwFile} --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync`;
    await rm(pwFile);
  }

  const cluster = clusterHandle({
    bin,
    owner,
    root,
    dataDir,
    port,
    password,
    settings: { ...SERVER_SETTINGS, ...options.settings },
  });
  await cluster.start();
  return cluster;
}

export interface HandleOptions {
  bin: string;
  owner: Owner;
  /** The folder holding the data directory, the socket and the log; deleted by destroy(). */
  root: string;
  dataDir: string;
  port: number;
  /** The superuser's password. */
  password: string;
  /** Server settings (-c); the port and the socket directory are added. */
  settings: Record<string, string>;
  startTimeoutSeconds?: number;
}

/** A handle on a PostgreSQL data directory: starts it on its own port and socket, stops it, deletes it. */
export function clusterHandle(options: HandleOptions): PgCluster {
  const { bin, root, dataDir, port, password } = options;
  const as = options.owner.prefix;
  const logFile = path.join(root, 'server.log');
  const quiet = $({ quiet: true, cwd: root });
  const settings = { ...options.settings, port: String(port), unix_socket_directories: root };
  const serverOptions = Object.entries(settings)
    .map(([key, value]) => `-c ${key}=${value}`)
    .join(' ');
  const timeout = options.startTimeoutSeconds ?? 60;

  const start = async () => {
    try {
      await quiet`${as} ${bin}/pg_ctl start -w -t ${timeout} -D ${dataDir} -l ${logFile} -o ${serverOptions}`;
    } catch (error) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`PostgreSQL did not start on port ${port}: ${log.split('\n').slice(-10).join('\n')}`, {
        cause: error,
      });
    }
  };
  const stop = async () => {
    if (existsSync(path.join(dataDir, 'postmaster.pid'))) {
      await quiet`${as} ${bin}/pg_ctl stop -w -m fast -D ${dataDir}`.nothrow();
    }
  };
  let destroyed = false;
  return {
    host: '127.0.0.1',
    port,
    dataDir,
    superuser: 'postgres',
    password,
    url: (database, user = 'postgres', pass = password) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    psqlFile: async (database, file, vars = {}) => {
      const varArgs = Object.entries(vars).flatMap(([name, value]) => ['-v', `${name}=${value}`]);
      await quiet({
        env: { ...process.env, PGPASSWORD: password },
      })`${bin}/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${port} -U postgres -d ${database} ${varArgs} -f ${file}`;
    },
    start,
    stop,
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
