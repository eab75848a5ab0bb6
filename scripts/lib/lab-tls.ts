// The lab's TLS: a CA made once (10 years), and a server certificate for *.lab.localhost (+ $LAB_DOMAIN) signed
// by it (397 days), reissued when it is missing, nears its end, or no longer carries the wanted names.
// Keys are EC P-256, made by Node and written mode 600; certificates are signed by the openssl CLI (Debian, macOS).
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { $, which } from 'zx';
import { StopError } from './cli.js';
import { readIfExists, type Staging } from './private-files.js';

export const BASE_DOMAIN = 'lab.localhost';
export const CA_VALID_DAYS = 3650;
export const SERVER_VALID_DAYS = 397;
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export interface TlsFiles {
  caKey: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
  /** pgBackRest's peers (the repository host and the PostgreSQL members): one certificate, server and client. */
  pgbackrestKey: string;
  pgbackrestCert: string;
}

/** The names pgBackRest's peers reach each other by (docker-compose.yml's service host names). */
export const PGBACKREST_SUBJECT: CertSubject = {
  commonName: 'pgbackrest',
  dns: ['backup', 'postgres1', 'postgres2'],
  usage: 'serverAuth, clientAuth',
};

/** Names a CA may sign (its X.509 name constraints): DNS names with their subdomains, IP ranges as address/mask. */
export interface PermittedNames {
  dns: string[];
  ips: string[];
}

/** The data tier's host names that carry TLS: pgBackRest's peers, and etcd's members (for its client TLS). */
const DATA_TIER_NAMES = [...PGBACKREST_SUBJECT.dns!, 'etcd1', 'etcd2', 'etcd3'];

/**
 * What the lab CA may sign: the lab's names (and LAB_DOMAIN's, when it is set as the CA is made), localhost, node1
 * and the data tier's host names, loopback and the Vagrant network. The CA is trusted by browsers and the system
 * (npm run trust-ca): a stolen key then signs nothing outside the lab. A CA cannot widen its constraints later, so
 * the list holds the names the lab's certificates will carry, etcd's included.
 */
export function labCaPermitted(labDomain?: string): PermittedNames {
  return {
    dns: [...new Set([BASE_DOMAIN, ...(labDomain ? [labDomain] : []), 'localhost', 'node1', ...DATA_TIER_NAMES])],
    ips: ['127.0.0.0/255.0.0.0', '192.168.56.0/255.255.255.0'],
  };
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})+$`);

/** LAB_DOMAIN, lower-cased and checked; undefined when unset or empty. */
export function parseLabDomain(raw: string | undefined): string | undefined {
  const domain = raw?.trim().toLowerCase().replace(/\.$/, '');
  if (!domain) return undefined;
  if (!DOMAIN.test(domain)) {
    throw new StopError(`LAB_DOMAIN "${raw}" is not a domain name like example.com: fix it or unset it.`);
  }
  return domain;
}

/** The names the server certificate must cover, in a stable order. */
export function serverNames(labDomain?: string): string[] {
  const domains = [...new Set([BASE_DOMAIN, ...(labDomain ? [labDomain] : [])])];
  return domains.flatMap((domain) => [`*.${domain}`, domain]);
}

/** The IP addresses in a certificate's subjectAltName. */
export function certificateIps(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('IP Address:'))
    .map((entry) => entry.slice('IP Address:'.length));
}

/** The DNS names in a certificate's subjectAltName. */
export function certificateNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
}

function parseCert(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** A CA's key and certificate: the lab CA (ca.key, ca.crt), or node1's Docker client CA. */
export interface CaFiles {
  key: string;
  cert: string;
}

/**
 * 'missing' when neither CA file exists; 'ok' when both are there, readable and belong together. Anything
 * else stops: replacing a CA that people may already trust is never done silently.
 */
export async function inspectCa(files: CaFiles): Promise<'missing' | 'ok'> {
  const [keyPem, certPem] = await Promise.all([readIfExists(files.key), readIfExists(files.cert)]);
  if (keyPem === undefined && certPem === undefined) return 'missing';
  const [keyName, certName] = [path.basename(files.key), path.basename(files.cert)];
  const cert = certPem === undefined ? undefined : parseCert(certPem);
  const problem =
    keyPem === undefined || certPem === undefined
      ? `${keyPem === undefined ? keyName : certName} is missing`
      : !cert
        ? `${certName} is not a certificate`
        : !cert.ca
          ? `${certName} is not a CA certificate`
          : !keyMatches(cert, keyPem)
            ? `${keyName} does not belong to ${certName}`
            : undefined;
  if (problem) {
    const dir = path.dirname(files.cert);
    throw new StopError(
      `The CA ${certName} in ${dir} is broken (${problem}): restore it, or delete ${keyName} and ${certName} to make ` +
        'a new one (and trust it again where it was trusted).',
    );
  }
  return 'ok';
}

/** Why the server certificate must be issued again, or undefined when it is fine as it is. */
export async function serverCertProblem(files: TlsFiles, names: string[], now: Date): Promise<string | undefined> {
  return certProblem({ key: files.serverKey, cert: files.serverCert, caCert: files.caCert }, now, { dns: names });
}

/**
 * Why a certificate must be issued again (missing, not from the lab CA, wrong key, near its end, other names), or
 * undefined when it is fine as it is.
 */
export async function certProblem(
  files: { key: string; cert: string; caCert: string; caName?: string },
  now: Date,
  names: { dns: string[]; ips?: string[] },
): Promise<string | undefined> {
  const [keyPem, certPem, caPem] = await Promise.all([files.key, files.cert, files.caCert].map((f) => readIfExists(f)));
  if (keyPem === undefined || certPem === undefined) return 'missing';
  const cert = parseCert(certPem);
  const ca = caPem === undefined ? undefined : parseCert(caPem);
  if (!cert) return 'not a certificate';
  if (!ca || !cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    return `not signed by ${files.caName ?? 'the lab CA'}`;
  if (!keyMatches(cert, keyPem)) return 'key does not match';
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) {
    return `expires ${validTo.toISOString().slice(0, 10)}`;
  }
  const wanted = [...names.dns, ...(names.ips ?? []).map((ip) => `IP:${ip}`)].sort().join(' ');
  const have = [...certificateNames(cert), ...certificateIps(cert).map((ip) => `IP:${ip}`)];
  if (have.sort().join(' ') !== wanted) return `names changed, had ${have.join(' ')}`;
  return undefined;
}

/** Stops with the install command when the openssl CLI is missing. */
export async function requireOpenssl(): Promise<void> {
  if (await which('openssl', { nothrow: true })) return;
  throw new StopError(
    'The openssl command is missing: install it (Debian/Ubuntu: apt-get install -y openssl) and run again.',
  );
}

const newKeyPem = () =>
  generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }).privateKey;

const serial = () => `0x${randomBytes(16).toString('hex').replace(/^./, '1')}`; // positive, 128 bits

async function withConfig<T>(config: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-openssl-'));
  try {
    const file = path.join(dir, 'openssl.cnf');
    await writeFile(file, config);
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Stages a new CA key and certificate named `name` (with the host and the date); returns the staged paths, to sign
 * with before they are committed. `clientsOnly`: the CA issues only client certificates (extendedKeyUsage).
 */
export async function stageCa(
  staging: Staging,
  files: CaFiles,
  options: { name?: string; clientsOnly?: boolean; permitted?: PermittedNames } = {},
): Promise<CaFiles> {
  const { name = 'swarmlab lab CA', clientsOnly = false, permitted } = options;
  const constraints = permitted && [
    ...permitted.dns.map((dns) => `permitted;DNS:${dns}`),
    ...permitted.ips.map((ip) => `permitted;IP:${ip}`),
  ];
  const key = staging.pathFor(files.key);
  await writeFile(key, newKeyPem(), { mode: 0o600, flag: 'wx' });
  const cert = staging.pathFor(files.cert);
  const subject = `${name} ${hostname().replace(/[^A-Za-z0-9.-]/g, '')} ${new Date().toISOString().slice(0, 10)}`;
  const config = `[req]
distinguished_name = dn
x509_extensions = ca_ext
prompt = no
[dn]
O = swarmlab
CN = ${subject}
[ca_ext]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
${clientsOnly ? 'extendedKeyUsage = clientAuth\n' : ''}${constraints ? `nameConstraints = critical, ${constraints.join(', ')}\n` : ''}subjectKeyIdentifier = hash
`;
  await withConfig(config, async (cnf) => {
    const args = ['-new', '-x509', '-sha256', '-days', String(CA_VALID_DAYS), '-set_serial', serial(), '-config', cnf];
    await $({ quiet: true })`openssl req ${args} -key ${key} -out ${cert}`;
  });
  return { key, cert };
}

/** Stages a new server key and a certificate for `names` signed by the CA at `ca`. */
export async function stageServerCert(
  staging: Staging,
  files: TlsFiles,
  ca: { key: string; cert: string },
  names: string[],
): Promise<void> {
  const commonName = names.find((name) => !name.startsWith('*.')) ?? names[0]!;
  await stageCert(staging, { key: files.serverKey, cert: files.serverCert }, ca, { commonName, dns: names });
}

export interface CertSubject {
  commonName: string;
  dns?: string[];
  ips?: string[];
  /** serverAuth (default) for a server, clientAuth for a client of a mutual-TLS server, both for a peer. */
  usage?: 'serverAuth' | 'clientAuth' | 'serverAuth, clientAuth';
}

/** Stages a new key and a certificate for `subject`, signed by the CA at `ca` (paths, maybe staged ones). */
export async function stageCert(
  staging: Staging,
  files: { key: string; cert: string },
  ca: { key: string; cert: string },
  subject: CertSubject,
): Promise<void> {
  const key = staging.pathFor(files.key);
  await writeFile(key, newKeyPem(), { mode: 0o600, flag: 'wx' });
  const cert = staging.pathFor(files.cert);
  const altNames = [
    ...(subject.dns ?? []).map((name) => `DNS:${name}`),
    ...(subject.ips ?? []).map((ip) => `IP:${ip}`),
  ];
  const config = `[req]
distinguished_name = dn
prompt = no
[dn]
O = swarmlab
CN = ${subject.commonName}
[cert_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = ${subject.usage ?? 'serverAuth'}
${altNames.length > 0 ? `subjectAltName = ${altNames.join(', ')}\n` : ''}subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;
  await withConfig(config, async (cnf) => {
    const csr = path.join(path.dirname(cnf), 'cert.csr');
    await $({ quiet: true })`openssl req -new -sha256 -config ${cnf} -key ${key} -out ${csr}`;
    const args = ['-req', '-sha256', '-days', String(SERVER_VALID_DAYS), '-set_serial', serial(), '-in', csr];
    await $({
      quiet: true,
    })`openssl x509 ${args} -CA ${ca.cert} -CAkey ${ca.key} -extfile ${cnf} -extensions cert_ext -out ${cert}`;
  });
  // openssl signs whatever it is given; its own check refuses a name outside the CA's name constraints.
  const verified = await $({ quiet: true, nothrow: true })`openssl verify -CAfile ${ca.cert} ${cert}`;
  if (verified.exitCode !== 0) {
    const why = verified.stdout.concat(verified.stderr).match(/error \d+ at \d+ depth lookup: (.*)/)?.[1];
    throw new StopError(
      `The CA cannot sign ${[...(subject.dns ?? []), ...(subject.ips ?? [])].join(', ') || subject.commonName} ` +
        `(${why ?? verified.stderr.trim()}): it signs only the names it was made for. Nothing was changed.`,
    );
  }
}
