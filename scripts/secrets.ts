// `npm run secrets`: creates, once, every secret of the lab, the lab CA and the server certificate under .lab/.
import path from 'node:path';
import { parseFlags, runCommand } from './lib/cli.js';
import { ensureLabSecrets, labDir, rotatable, SECRET_NAMES, type SecretsReport } from './lib/lab-secrets.js';
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
  --rotate <name>  give one secret a new value and the next version (deploy then rolls the services using it)
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
    if (report.rows.some((row) => row.name === 'lab_ca_cert' && row.status === 'created')) {
      console.log('A new lab CA was made: trust it once with npm run trust-ca.');
    }
  }
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
    ensureLabSecrets({ labDir: labDir(), labDomain, rotate: flags.rotate, dryRun: flags['dry-run'] }),
  );
  print(report, serverNames(labDomain));
  if (flags['dry-run']) return;
  const nodeRows = await step("the nodes' certificates (Docker API, registry)", () => ensureNodeTls());
  summary(
    'Node certificates (lab CA)',
    Object.fromEntries(
      nodeRows.map((row) => [row.name, `${row.status}  ${row.file}${row.note ? `  (${row.note})` : ''}`]),
    ),
  );
}

await runCommand(main);
