// `npm run secrets`: creates, once, every secret of the lab, the lab CA and the server certificate under .lab/.
import path from 'node:path';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { labDriver, labUrl } from './lib/lab-context.js';
import { LabClient } from './lib/lab-https.js';
import {
  DATABASE_ROLE_PASSWORDS,
  ensureLabSecrets,
  labDir,
  NOT_ROTATABLE,
  rotatable,
  SECRET_NAMES,
  type SecretName,
  type SecretsReport,
} from './lib/lab-secrets.js';
import { ensureNodeTls } from './lib/lab-node-tls.js';
import { parseLabDomain, serverNames } from './lib/lab-tls.js';
import { step, summary } from './lib/log.js';

const HELP = `
Usage: npm run secrets [-- --rotate <name>] [--dry-run]

Creates what is missing, once, under LAB_DIR (folders mode 700, files 600); running it again changes nothing:
  secrets/<name>        one file per secret: passwords, keys, database URLs, the ops UIs' htpasswd line
  secrets/versions.json the version of each; deploy makes the Docker secret swarmlab_<name>_v<version>
  ca/ca.key, ca/ca.crt  the lab CA, made once (trust it with: npm run trust-ca)
  tls/server.key, .crt  a certificate for *.lab.localhost and lab.localhost (and LAB_DOMAIN), signed by the CA;
                        issued again when it is missing, expires within 30 days, or LAB_DOMAIN changed

Options:
  --rotate <name>  give one secret a new value and the next version (deploy then rolls the services using it;
                   the PostgreSQL leader sets a role's new password as it restarts; admin_password is changed in
                   the API's database at once, through the edge). Refused, with the reason: ${Object.keys(NOT_ROTATABLE).join(', ')}
  --dry-run        show what would change; write nothing
  -h, --help       show this help

Environment:
  LAB_DIR     the lab's local state (default: .lab in the repository)
  LAB_DOMAIN  your own domain: the certificate also covers it and *.<it>

Secrets: ${SECRET_NAMES.join(', ')}
`;

function print(report: SecretsReport, names: string[]) {
  const relative = path.relative(process.cwd(), report.labDir);
  const where = relative.startsWith('..') ? report.labDir : relative || '.';
  const verb = (status: string) => (report.dryRun && status !== 'kept' ? `would be ${status}` : status);
  const width = Math.max('status'.length, ...report.rows.map((row) => verb(row.status).length));
  const lines = Object.fromEntries(
    report.rows.map((row) => [
      row.name,
      `${verb(row.status).padEnd(width)}  ${row.file}${row.note ? `  (${row.note})` : ''}`,
    ]),
  );
  summary(
    `${report.dryRun ? 'Dry run, nothing written: ' : ''}secrets in ${where} (certificate for ${names.join(' ')})`,
    {
      name: `${'status'.padEnd(width)}  file`,
      ...lines,
    },
  );
  for (const file of report.modesFixed) console.log(`  ${report.dryRun ? 'would tighten' : 'tightened'} mode: ${file}`);

  const secretRows = report.rows.filter((row) => (SECRET_NAMES as string[]).includes(row.name));
  const counts = new Map<string, number>();
  for (const row of secretRows) if (row.status !== 'kept') counts.set(row.status, (counts.get(row.status) ?? 0) + 1);
  const changes = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  if (!report.changed) console.log('\nNothing changed: every secret and certificate was already there.');
  else if (report.dryRun)
    console.log(`\nWould change: ${changes || 'file modes only'}. Run without --dry-run to apply.`);
  else {
    console.log(
      `\nChanged: ${changes || 'file modes only'}. Deploy creates the new Docker secrets and rolls their services.`,
    );
    const rotated = report.rows.find((row) => row.status === 'rotated')?.name as SecretName | undefined;
    if (rotated && DATABASE_ROLE_PASSWORDS.includes(rotated)) {
      console.log(
        `${rotated}: npm run deploy restarts the PostgreSQL members with it, and the leader sets it in the database; ` +
          'until the services that use it have rolled, their new connections are refused (no write is lost).',
      );
    }
    if (rotated === 'registry_password') {
      console.log(
        "registry_password: node1's registry reads its users when node1 starts. Restart it (docker restart " +
          'swarmlab-node1 for the docker driver, vagrant provision node1 for VMs), then npm run deploy: until then ' +
          'deploy cannot push.',
      );
    }
    if (report.rows.some((row) => row.name === 'lab_ca_cert' && row.status === 'created')) {
      console.log('A new lab CA was made: trust it once with npm run trust-ca.');
    }
  }
}

const ADMIN_EMAIL = 'admin@lab.localhost';

/**
 * admin_password only creates the API's first admin: the password the API checks is in its database. A rotation
 * changes it there, through the edge (logged in with the old one), before the new one replaces the old in .lab;
 * anything that goes wrong leaves both as they were. With no lab at all, the next deploy creates the admin with it.
 */
async function changeAdminPassword(previous: string, next: string): Promise<void> {
  const client = new LabClient();
  const call = (method: string, urlPath: string, body?: unknown, token?: string) =>
    client.request({
      host: 'api',
      method,
      path: urlPath,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const unchanged = 'Nothing was changed: the admin keeps the current password, in the lab and in .lab.';
  try {
    const login = await call('POST', '/v1/auth/login', { email: ADMIN_EMAIL, password: previous }).catch(
      async (error: unknown) => {
        if ((await labDriver()) === undefined) return undefined;
        throw new StopError(
          `The lab's API does not answer at ${labUrl('api')} (${error instanceof Error ? error.message : String(error)}), ` +
            `and the admin's password is in its database too. Start the lab (npm run lab:up, npm run deploy) and ` +
            `rotate again. ${unchanged}`,
        );
      },
    );
    if (!login) {
      console.error('  no lab yet: the first deploy creates the admin with the new password');
      return;
    }
    if (login.status !== 200) {
      throw new StopError(
        `Logging in as ${ADMIN_EMAIL} with .lab/secrets/admin_password gave ${login.status} ${login.body.slice(0, 200)}: ` +
          `the password in the API's database is another one (changed in the API?). ${unchanged}`,
      );
    }
    const token = String((JSON.parse(login.body) as { accessToken: string }).accessToken);
    const me = await call('GET', '/v1/auth/me', undefined, token);
    const id = me.status === 200 ? (JSON.parse(me.body) as { id?: number }).id : undefined;
    const changed = id === undefined ? me : await call('PATCH', `/v1/users/${id}`, { password: next }, token);
    if (changed.status !== 200) {
      throw new StopError(`The API refused the change (${changed.status} ${changed.body.slice(0, 200)}). ${unchanged}`);
    }
    console.error(`  ${ADMIN_EMAIL}: password changed in the API's database; the old one no longer logs in`);
  } finally {
    client.close();
  }
}

async function applyRotation(name: SecretName, previous: string, next: string) {
  if (name === 'admin_password') await changeAdminPassword(previous, next);
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    { rotate: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
    HELP,
  );
  const labDomain = parseLabDomain(process.env.LAB_DOMAIN);
  if (flags.rotate !== undefined) rotatable(flags.rotate); // a bad name stops before anything is read
  const report = await step(flags['dry-run'] ? 'plan the lab secrets' : 'ensure the lab secrets', () =>
    ensureLabSecrets({ labDir: labDir(), labDomain, rotate: flags.rotate, dryRun: flags['dry-run'], applyRotation }),
  );
  print(report, serverNames(labDomain));
  if (flags['dry-run']) return;
  const nodeRows = await step("what the nodes get (certificates, the registry's users)", () => ensureNodeTls());
  summary(
    "The nodes' certificates and the registry's users",
    Object.fromEntries(
      nodeRows.map((row) => [row.name, `${row.status}  ${row.file}${row.note ? `  (${row.note})` : ''}`]),
    ),
  );
}

await runCommand(main);
