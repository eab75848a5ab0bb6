// The lab's data tier as local processes on 127.0.0.1: three etcd members, two Patroni-managed PostgreSQL
// members and the HAProxy db-router, all configured from the same files as the images (postgres/). Used by
// the failover tests, `npm run db:dev` and `npm run bench:failover`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { freePort, requirePgBinaries } from './pg-cluster.js';
import { requireDebianTools } from './debian-tools.js';
import { renderTemplate } from './template.js';
import { REPO_ROOT as REPO } from './paths.js';
import { queryOnce } from './sql.js';

const POSTGRES_DIR = path.join(REPO, 'postgres');
export const SCOPE = 'swarmlab';
export const DATABASE = 'swarmlab';

export interface ClusterPasswords {
  superuser: string;
  replication: string;
  rewind: string;
  restapi: string;
  migrator: string;
  app: string;
  readonly: string;
  backup: string;
  monitoring: string;
}

export type Role = 'postgres' | 'migrator' | 'app' | 'readonly' | 'backup' | 'monitoring';
/** The environment variables post-bootstrap.sh (and on-leader.sh) read the roles' passwords from. */
export type RolePasswordVariable =
  'MIGRATOR_PASSWORD' | 'APP_PASSWORD' | 'READONLY_PASSWORD' | 'BACKUP_PASSWORD' | 'MONITORING_PASSWORD';

/** A process this module started: its log goes to a file, and it can be killed and started again. */
class ManagedProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string; uid?: number; gid?: number },
  ) {}

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; `env` is added to its environment from now on (a redeploy with other secrets). */
  start(env: NodeJS.ProcessEnv = {}) {
    if (this.running) return;
    Object.assign(this.options.env, env);
    const log = createWriteStream(this.options.logFile, { flags: 'a' });
    const child = spawn(this.command, this.args, {
      cwd: this.options.cwd,
      env: this.options.env,
      uid: this.options.uid,
      gid: this.options.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.child = child;
  }

  /** Sends the signal and waits for the process to end (SIGKILL after 15 s for a polite signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (!this.running) return;
    this.child!.kill(signal);
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  async logTail(lines = 30) {
    const text = await readFile(this.options.logFile, 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  process: ManagedProcess;
}

export interface PgMember {
  name: string;
  pgPort: number;
  apiPort: number;
  apiUrl: string;
  dataDir: string;
  patroni: ManagedProcess;
  /** kill -9 of Patroni and of its PostgreSQL: the member is gone at once, as when its node dies. */
  crash(): Promise<void>;
  /**
   * Starts Patroni again; it rejoins the cluster (rewound when it was the old leader). `env`: variables it gets from
   * now on, e.g. a role's new password (as a deploy of a rotated secret restarts the member with it).
   */
  start(env?: Partial<Record<RolePasswordVariable, string>>): void;
  /** Connection URL straight to this member's PostgreSQL. */
  url(role?: Role, database?: string): string;
}

export interface ClusterMember {
  name: string;
  role: string;
  state: string;
  host: string;
  port: number;
  timeline?: number;
  lag?: number | string;
}

export interface HaCluster {
  dir: string;
  passwords: ClusterPasswords;
  etcd: EtcdMember[];
  members: PgMember[];
  router: { rwPort: number; roPort: number; statsPort: number; process: ManagedProcess };
  /** Connection URL through the db-router: `rw` reaches the leader, `ro` a replica (or the leader). */
  url(port: 'rw' | 'ro', role?: Role, database?: string): string;
  /** Patroni's view of the cluster (GET /cluster) from the first member that answers. */
  status(): Promise<ClusterMember[]>;
  /**
   * Waits until one member leads, `replicas` members stream from it (one recorded by Patroni as its
   * synchronous standby), and the router sends writes to the leader and reads to a replica; returns the leader.
   */
  waitForHealthy(options?: { replicas?: number; timeoutMs?: number }): Promise<PgMember>;
  member(name: string): PgMember;
  /** The logs of every process, last lines, for a failure message. */
  logs(): Promise<string>;
  destroy(): Promise<void>;
}

const requireHaTools = () => requireDebianTools({ patroni: 'patroni', etcd: 'etcd-server', haproxy: 'haproxy' });

const secret = () => randomBytes(18).toString('base64url');

async function postgresOwner() {
  if (process.getuid?.() !== 0) return {};
  const uid = Number((await $({ quiet: true })`id -u postgres`).stdout.trim());
  const gid = Number((await $({ quiet: true })`id -g postgres`).stdout.trim());
  return { uid, gid };
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}

export async function startHaCluster(): Promise<HaCluster> {
  await requireHaTools();
  await requirePgBinaries();
  const owner = await postgresOwner();
  const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-ha-'));
  const own = async (target: string) => {
    if (owner.uid !== undefined) await chown(target, owner.uid, owner.gid!);
  };
  await own(dir);
  const passwords: ClusterPasswords = {
    superuser: secret(),
    replication: secret(),
    rewind: secret(),
    restapi: secret(),
    migrator: secret(),
    app: secret(),
    readonly: secret(),
    backup: secret(),
    monitoring: secret(),
  };
  const processes: ManagedProcess[] = [];
  const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir };

  // The files the image copies into /etc/swarmlab, copied where the postgres user can read them.
  const shared = path.join(dir, 'shared');
  await mkdir(shared);
  for (const file of ['post-bootstrap.sh', 'on-leader.sh', 'roles.sql', 'cluster-roles.sql']) {
    await copyFile(path.join(POSTGRES_DIR, file), path.join(shared, file));
    await own(path.join(shared, file));
  }
  await own(shared);

  const members: PgMember[] = [];
  const cleanup = async () => {
    await Promise.all([...members.map((m) => m.crash()), ...processes.map((p) => p.stop('SIGKILL'))]);
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  };

  try {
    // etcd ×3
    const etcdPorts = await Promise.all(
      [0, 1, 2].map(async () => ({ client: await freePort(), peer: await freePort() })),
    );
    const etcdTemplate = await readFile(path.join(POSTGRES_DIR, 'etcd/etcd.yml'), 'utf8');
    const initialCluster = etcdPorts.map((p, i) => `etcd${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
    const etcd: EtcdMember[] = [];
    for (const [i, ports] of etcdPorts.entries()) {
      const name = `etcd${i + 1}`;
      const memberDir = path.join(dir, name);
      await mkdir(memberDir, { mode: 0o700 });
      const config = path.join(memberDir, 'etcd.yml');
      await writeFile(
        config,
        renderTemplate(etcdTemplate, {
          ETCD_NAME: name,
          ETCD_DATA_DIR: path.join(memberDir, 'data'),
          ETCD_LISTEN_PEER_URLS: `http://127.0.0.1:${ports.peer}`,
          ETCD_LISTEN_CLIENT_URLS: `http://127.0.0.1:${ports.client}`,
          ETCD_ADVERTISE_PEER_URLS: `http://127.0.0.1:${ports.peer}`,
          ETCD_ADVERTISE_CLIENT_URLS: `http://127.0.0.1:${ports.client}`,
          ETCD_INITIAL_CLUSTER: initialCluster,
          ETCD_CLUSTER_TOKEN: `${SCOPE}-${path.basename(dir)}`,
        }),
      );
      const proc = new ManagedProcess(name, 'etcd', ['--config-file', config], {
        env: baseEnv,
        cwd: memberDir,
        logFile: path.join(memberDir, 'etcd.log'),
      });
      processes.push(proc);
      proc.start();
      etcd.push({ name, clientUrl: `http://127.0.0.1:${ports.client}`, process: proc });
    }
    await waitUntil('etcd to elect a leader', 30_000, async () => {
      const response = await fetch(`${etcd[0]!.clientUrl}/health`);
      return response.ok && ((await response.json()) as { health: string }).health === 'true' ? true : undefined;
    });

    // PostgreSQL members ×2, each under Patroni
    const patroniTemplate = await readFile(path.join(POSTGRES_DIR, 'patroni.yml'), 'utf8');
    const etcdHosts = etcdPorts.map((p) => `127.0.0.1:${p.client}`).join(',');
    for (const i of [1, 2]) {
      const name = `member${i}`;
      const memberDir = path.join(dir, name);
      await mkdir(memberDir, { mode: 0o700 });
      await own(memberDir);
      const pgPort = await freePort();
      const apiPort = await freePort();
      const dataDir = path.join(memberDir, 'data');
      const config = path.join(memberDir, 'patroni.yml');
      await writeFile(
        config,
        renderTemplate(patroniTemplate, {
          PATRONI_SCOPE: SCOPE,
          PATRONI_NAME: name,
          PATRONI_RESTAPI_LISTEN: `127.0.0.1:${apiPort}`,
          PATRONI_RESTAPI_CONNECT_ADDRESS: `127.0.0.1:${apiPort}`,
          PATRONI_RESTAPI_PASSWORD: passwords.restapi,
          PATRONI_ETCD3_HOSTS: etcdHosts,
          PATRONI_POST_BOOTSTRAP: path.join(shared, 'post-bootstrap.sh'),
          PATRONI_CALLBACK: path.join(shared, 'on-leader.sh'),
          PATRONI_PGPASS: path.join(memberDir, 'pgpass'),
          PG_ARCHIVE_COMMAND: '/bin/true',
          PG_ARCHIVE_TIMEOUT: '60',
          PG_LISTEN: `127.0.0.1:${pgPort}`,
          PG_CONNECT_ADDRESS: `127.0.0.1:${pgPort}`,
          PGDATA: dataDir,
          PG_SUPERUSER_PASSWORD: passwords.superuser,
          PG_REPLICATION_PASSWORD: passwords.replication,
          PG_REWIND_PASSWORD: passwords.rewind,
          PG_SOCKET_DIR: memberDir,
          LAB_NETWORK: '127.0.0.1/32',
        }),
        { mode: 0o600 },
      );
      await own(config);
      const patroni = new ManagedProcess(name, 'patroni', [config], {
        env: {
          ...baseEnv,
          HOME: memberDir,
          // on-leader.sh connects over this member's socket (its port names the socket file).
          PG_SOCKET_DIR: memberDir,
          PGPORT: String(pgPort),
          APP_DATABASE: DATABASE,
          MIGRATOR_PASSWORD: passwords.migrator,
          APP_PASSWORD: passwords.app,
          READONLY_PASSWORD: passwords.readonly,
          BACKUP_PASSWORD: passwords.backup,
          MONITORING_PASSWORD: passwords.monitoring,
        },
        cwd: memberDir,
        logFile: path.join(memberDir, 'patroni.log'),
        ...owner,
      });
      processes.push(patroni);
      const member: PgMember = {
        name,
        pgPort,
        apiPort,
        apiUrl: `http://127.0.0.1:${apiPort}`,
        dataDir,
        patroni,
        async crash() {
          const pidFile = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
          const postmaster = Number(pidFile.split('\n')[0]);
          await patroni.stop('SIGKILL');
          if (postmaster > 0) {
            try {
              process.kill(postmaster, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        },
        start: (env) => patroni.start(env),
        url: (role = 'postgres', database = DATABASE) => connectionUrl(role, passwords, pgPort, database),
      };
      members.push(member);
    }
    // The first member bootstraps alone, so the leader is predictable; the second then clones it.
    members[0]!.start();
    await waitUntil('member1 to bootstrap and lead', 60_000, async () =>
      (await fetch(`${members[0]!.apiUrl}/primary`)).ok ? true : undefined,
    );
    members[1]!.start();

    // db-router
    const router = { rwPort: await freePort(), roPort: await freePort(), statsPort: await freePort() };
    const routerProcess = new ManagedProcess(
      'db-router',
      'haproxy',
      ['-db', '-f', path.join(POSTGRES_DIR, 'db-router/haproxy.cfg')],
      {
        env: {
          ...baseEnv,
          DB_ROUTER_STATS_BIND: `127.0.0.1:${router.statsPort}`,
          DB_ROUTER_RW_BIND: `127.0.0.1:${router.rwPort}`,
          DB_ROUTER_RO_BIND: `127.0.0.1:${router.roPort}`,
          DB_ROUTER_REPLICA_MAX_LAG: '16MB',
          PG_MEMBER1_HOST: '127.0.0.1',
          PG_MEMBER1_PORT: String(members[0]!.pgPort),
          PG_MEMBER1_API_PORT: String(members[0]!.apiPort),
          PG_MEMBER2_HOST: '127.0.0.1',
          PG_MEMBER2_PORT: String(members[1]!.pgPort),
          PG_MEMBER2_API_PORT: String(members[1]!.apiPort),
        },
        cwd: dir,
        logFile: path.join(dir, 'db-router.log'),
      },
    );
    processes.push(routerProcess);
    routerProcess.start();

    const cluster: HaCluster = {
      dir,
      passwords,
      etcd,
      members,
      router: { ...router, process: routerProcess },
      url: (port, role = 'app', database = DATABASE) =>
        connectionUrl(role, passwords, port === 'rw' ? router.rwPort : router.roPort, database),
      async status() {
        for (const member of members) {
          try {
            const response = await fetch(`${member.apiUrl}/cluster`, { signal: AbortSignal.timeout(2_000) });
            if (response.ok) return ((await response.json()) as { members: ClusterMember[] }).members;
          } catch {
            // try the next member
          }
        }
        throw new Error('no Patroni member answers GET /cluster');
      },
      async waitForHealthy({ replicas = 1, timeoutMs = 90_000 } = {}) {
        return waitUntil(`a leader with ${replicas} streaming replica(s)`, timeoutMs, async () => {
          const view = await cluster.status();
          const leaders = view.filter((m) => m.role === 'leader' && m.state === 'running');
          const streaming = view.filter((m) => m.role !== 'leader' && m.state === 'running' && m.lag !== 'unknown');
          if (leaders.length !== 1 || streaming.length < replicas) return undefined;
          // Patroni promotes only the standby it has recorded as synchronous (in etcd), a few seconds after
          // PostgreSQL reports it sync: until then a crash of the leader would leave no one to promote.
          if (replicas > 0 && !streaming.some((m) => m.role === 'sync_standby')) return undefined;
          const leader = cluster.member(leaders[0]!.name);
          const [replication] = (
            await queryOnce(
              leader.url('postgres', 'postgres'),
              `SELECT count(*) FILTER (WHERE state = 'streaming') AS streaming,
                      count(*) FILTER (WHERE sync_state = 'sync') AS sync
                 FROM pg_stat_replication`,
            )
          ).rows;
          if (Number(replication?.streaming ?? 0) < replicas || (replicas > 0 && Number(replication?.sync ?? 0) < 1)) {
            return undefined;
          }
          // Healthy for clients too: the router sends writes to this leader and reads to a replica.
          const [rw] = (await queryOnce(cluster.url('rw', 'postgres', 'postgres'), 'SELECT inet_server_port() AS port'))
            .rows;
          if (rw?.port !== leader.pgPort) return undefined;
          if (replicas > 0) {
            const [ro] = (
              await queryOnce(cluster.url('ro', 'postgres', 'postgres'), 'SELECT pg_is_in_recovery() AS standby')
            ).rows;
            if (!ro?.standby) return undefined;
          }
          return leader;
        });
      },
      member(name) {
        const member = members.find((m) => m.name === name);
        if (!member) throw new Error(`no member named ${name}`);
        return member;
      },
      async logs() {
        const parts = await Promise.all(processes.map(async (p) => `--- ${p.name}\n${await p.logTail()}`));
        return parts.join('\n');
      },
      destroy: cleanup,
    };
    try {
      await cluster.waitForHealthy();
    } catch (error) {
      throw new Error(`the data tier did not come up:\n${await cluster.logs()}`, { cause: error });
    }
    return cluster;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function connectionUrl(role: Role, passwords: ClusterPasswords, port: number, database: string) {
  const password = role === 'postgres' ? passwords.superuser : passwords[role];
  return `postgresql://${role}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}
