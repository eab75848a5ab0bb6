// The PostgreSQL members roll before the rest of the stack when they change (their image, or a rotated database
// role's password): the API would otherwise start its new tasks on a database that is restarting, or with a
// password the database does not know yet, and roll back. With a rotated password, the leader sets it in the
// database as it starts (postgres/on-leader.sh), and deploy waits until the role logs in with it.
import { parse, stringify } from 'yaml';
import { StopError } from './cli.js';
import type { Lab } from './lab-context.js';
import { clusterOf } from './lab-patroni.js';
import { DATABASE_ROLE_PASSWORDS, dockerSecretName, STACK, type SecretName, type Versions } from './lab-secrets.js';
import { runJob, stackService } from './lab-swarm.js';
import { PatroniClient } from './patroni.js';

export const MEMBERS = ['postgres1', 'postgres2'] as const;

/** The database role each of those secrets is the password of. */
const ROLE_OF: Readonly<Record<string, string>> = {
  pg_replication_password: 'replicator',
  pg_rewind_password: 'rewinder',
  migrator_password: 'migrator',
  app_password: 'app',
  readonly_password: 'readonly',
  backup_password: 'backup',
  monitoring_password: 'monitoring',
};

/**
 * The role passwords whose current version the running postgres1 does not mount yet: rotated since the last deploy.
 * None when postgres1 does not run yet (a first deploy starts the data tier first anyway).
 */
export async function rotatedRolePasswords(lab: Lab, versions: Versions): Promise<SecretName[]> {
  const running = await lab.docker
    .getService(stackService(MEMBERS[0]))
    .inspect()
    .catch(() => undefined);
  if (!running) return [];
  const mounted = new Set(
    ((running.Spec?.TaskTemplate?.ContainerSpec?.Secrets ?? []) as { SecretName: string }[]).map((s) => s.SecretName),
  );
  return DATABASE_ROLE_PASSWORDS.filter((name) => !mounted.has(dockerSecretName(name, versions)));
}

/**
 * The order the members roll in: the replica first, then the leader, whose stop hands the lead to the replica (already
 * on the new spec) within seconds. Both at once when the cluster cannot tell who leads.
 */
export async function memberRollOrder(lab: Lab): Promise<string[][]> {
  const view = await clusterOf(lab)
    .then((location) => new PatroniClient(location).cluster())
    .catch(() => undefined);
  const leader = view?.leader?.name;
  if (!leader || !(MEMBERS as readonly string[]).includes(leader)) return [[...MEMBERS]];
  return [MEMBERS.filter((name) => name !== leader), [leader]];
}

/** Why the members must roll first in this deploy (their image changed, passwords rotated); empty when they need not. */
export async function membersFirstReasons(
  lab: Lab,
  rendered: string,
  rotated: readonly SecretName[],
): Promise<string[]> {
  const running = await lab.docker
    .getService(stackService(MEMBERS[0]))
    .inspect()
    .catch(() => undefined);
  if (!running) return [];
  const image = String(running.Spec?.TaskTemplate?.ContainerSpec?.Image ?? '').split('@')[0];
  const wanted = (parse(rendered) as { services: Record<string, { image?: string }> }).services[MEMBERS[0]]?.image;
  return [...(wanted && wanted !== image ? ['a new image'] : []), ...rotated.map((name) => `${name} rotated`)];
}

/** The rendered stack with only `services` (networks, secrets and configs as they are: stack deploy keeps the rest). */
export function onlyServices(rendered: string, services: readonly string[]): string {
  const stack = parse(rendered) as { services: Record<string, unknown> };
  return stringify({
    ...stack,
    services: Object.fromEntries(Object.entries(stack.services).filter(([name]) => services.includes(name))),
  });
}

// Logs in as each role through db-rw with the password its new secret holds, until it works or the time is up.
const LOGIN_CHECK = `
const { readFileSync } = require('node:fs');
const pg = require('pg');
const deadline = Date.now() + Number(process.env.WAIT_SECONDS) * 1000;
(async () => {
  for (const [user, file] of JSON.parse(process.env.ROLES)) {
    const password = readFileSync(file, 'utf8').trim();
    for (;;) {
      const client = new pg.Client({ host: 'db-rw', port: 5432, user, password, database: 'postgres', connectionTimeoutMillis: 5000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        console.log(user + ': logs in with its new password');
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          console.log(user + ': ' + error.message);
          process.exit(1);
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }
})();
`;

/** Waits until every rotated role logs in with its new password (a one-shot job of the API's image on `data`). */
export async function waitForRolePasswords(
  lab: Lab,
  rotated: readonly SecretName[],
  versions: Versions,
  apiImage: string,
  waitSeconds = 120,
): Promise<string> {
  const output = await runJob(
    lab,
    {
      name: 'role-passwords',
      image: apiImage,
      command: ['node', '-e', LOGIN_CHECK],
      networks: [`${STACK}_data`],
      // The api image runs as node (uid 1000).
      secrets: rotated.map((name) => ({ source: dockerSecretName(name, versions), target: name, uid: 1000 })),
      env: {
        ROLES: JSON.stringify(rotated.map((name) => [ROLE_OF[name], `/run/secrets/${name}`])),
        WAIT_SECONDS: String(waitSeconds),
      },
    },
    (waitSeconds + 60) * 1000,
  ).catch((error: unknown) => {
    throw new StopError(
      `The PostgreSQL leader did not set the rotated password of ${rotated.join(', ')} within ${waitSeconds} s ` +
        `(${error instanceof Error ? error.message : String(error)}).\nThe leader's log says why: ` +
        'npm run lab:logs -- postgres1 --grep on-leader (or postgres2). The members run with the new secret, the ' +
        'other services still with the old one: fix the cause, then npm run deploy again.',
    );
  });
  return output.trim().split('\n').at(-1) ?? '';
}
