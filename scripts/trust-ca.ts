// `npm run trust-ca`: how to make this machine (system, browsers, curl) trust the lab CA; --apply does it on Debian.
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { $, which } from 'zx';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { labPaths } from './lib/lab-secrets.js';
import { readIfExists } from './lib/private-files.js';
import { step } from './lib/log.js';

const HELP = `
Usage: npm run trust-ca [-- --apply [--yes]]

Prints the steps that make this machine trust the lab CA (LAB_DIR/ca/ca.crt, made by npm run secrets), so
browsers, curl and Node accept https://*.lab.localhost without warnings.

Options:
  --apply     on Debian/Ubuntu, as root: install the CA into the system store (update-ca-certificates)
  --yes       with --apply: do not ask first
  -h, --help  show this help
`;

const DEBIAN_DIR = '/usr/local/share/ca-certificates';
const DEBIAN_FILE = path.join(DEBIAN_DIR, 'swarmlab-lab-ca.crt');
const CHECK_URL = 'https://api.lab.localhost:8443/healthz';

/** What the CA may sign, from its name constraints (openssl's reading): "DNS lab.localhost", ...; none without. */
async function permittedNames(caFile: string): Promise<string[]> {
  const text = (await $({ quiet: true, nothrow: true })`openssl x509 -noout -ext nameConstraints -in ${caFile}`).stdout;
  return [...text.matchAll(/^\s+(DNS|IP):(\S+)$/gm)].map(([, kind, name]) => `${kind} ${name}`);
}

function scope(permitted: string[]): string {
  if (permitted.length > 0) return `  It signs only these names and their subdomains: ${permitted.join(', ')}.`;
  return `  It has no name constraints (made before the lab added them): its key could sign a certificate for any site.
  For a CA that signs the lab's names only: npm run lab:down, move .lab/ca/ca.crt and ca.key away, npm run lab
  (with your --edge; VMs: vagrant provision), then trust the new CA as below, and remove the old one.`;
}

function steps(caFile: string, ca: X509Certificate, permitted: string[]): string {
  return `
The lab CA: ${caFile}
  ${ca.subject.replace(/\n/g, ', ')}, valid until ${ca.validTo}
  SHA-256 fingerprint ${ca.fingerprint256}
${scope(permitted)}

Debian / Ubuntu (as root; or: sudo npm run trust-ca -- --apply):
  install -m 644 ${caFile} ${DEBIAN_FILE}
  update-ca-certificates

macOS:
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${caFile}

Firefox keeps its own list: Settings > Privacy & Security > Certificates > View Certificates > Authorities >
  Import ${caFile}, and tick "Trust this CA to identify websites".
Chrome/Chromium on Linux read ~/.pki/nssdb: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n swarmlab-lab-ca -i ${caFile}

Just one command, without trusting it system-wide:
  curl --cacert ${caFile} ${CHECK_URL}
  NODE_EXTRA_CA_CERTS=${caFile} node ...
`;
}

async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw new StopError('--apply asks before it changes the system trust store; add --yes to answer in advance.');
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
  }
}

async function applyDebian(caFile: string, pem: string, yes: boolean) {
  if (!existsSync('/etc/debian_version') || !(await which('update-ca-certificates', { nothrow: true }))) {
    throw new StopError(
      '--apply works on Debian/Ubuntu with ca-certificates installed; elsewhere follow the steps above.',
    );
  }
  if (process.getuid?.() !== 0) throw new StopError('--apply changes the system trust store: run it as root (sudo).');
  if ((await readIfExists(DEBIAN_FILE)) === pem) {
    console.log(`\nAlready trusted: ${DEBIAN_FILE} holds this CA. Nothing changed.`);
    return;
  }
  if (!(await confirm(`Install ${caFile} as ${DEBIAN_FILE} and run update-ca-certificates?`, yes))) {
    console.log('Nothing changed.');
    return;
  }
  await step(`install ${DEBIAN_FILE}`, async () => {
    const temp = `${DEBIAN_FILE}.tmp-${process.pid}`;
    try {
      await writeFile(temp, pem, { mode: 0o644 });
      await chmod(temp, 0o644);
      await rename(temp, DEBIAN_FILE);
    } finally {
      await rm(temp, { force: true });
    }
  });
  const output = await step('update-ca-certificates', () => $({ quiet: true })`update-ca-certificates`);
  console.log(output.stdout.trim());
  console.log(`\nTrusted system-wide. Check: curl ${CHECK_URL}`);
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    { apply: { type: 'boolean', default: false }, yes: { type: 'boolean', default: false } },
    HELP,
  );
  if (flags.yes && !flags.apply) throw new StopError('--yes only goes with --apply.');
  const caFile = labPaths().tlsFiles.caCert;
  const pem = await readFile(caFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new StopError(`There is no lab CA at ${caFile} yet: run npm run secrets first.`);
    throw error;
  });
  console.log(steps(caFile, new X509Certificate(pem), await permittedNames(caFile)).trimEnd());
  if (flags.apply) await applyDebian(caFile, pem, flags.yes);
}

await runCommand(main);
