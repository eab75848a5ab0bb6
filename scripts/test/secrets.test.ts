// `npm run secrets` and `npm run trust-ca` as the operator runs them: child processes, real openssl, a temp LAB_DIR.
import { createHash, X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import { $ } from 'zx';
import {
  CATALOGUE,
  dockerSecretName,
  ensureLabSecrets,
  labPaths,
  readVersions,
  SECRET_NAMES,
  secretFile,
  secretsFor,
  servicesUsing,
} from '../lib/lab-secrets.js';
import type { Lab } from '../lib/lab-context.js';
import {
  CLIENT_SUBJECT,
  dockerClientSecrets,
  dockerClientTlsHash,
  ensureNodeTls,
  nodeTlsPaths,
} from '../lib/lab-node-tls.js';
import { stageCa, stageCert } from '../lib/lab-tls.js';
import { Staging } from '../lib/private-files.js';
import { ensureDockerSecrets } from '../lib/lab-swarm.js';
import { REPO_ROOT as REPO } from '../lib/paths.js';
import { ensureRegistryUsers, registryCliEnv, registryHtpasswd } from '../lib/registry-auth.js';

const TSX = path.join(REPO, 'node_modules/.bin/tsx');
const DAY_MS = 86_400_000;

interface Entry {
  sha256: string;
  mtimeMs: number;
  mode: number;
}

/** Every file and folder under `dir`: content hash, mtime and mode, by relative path. */
async function snapshot(dir: string): Promise<Record<string, Entry>> {
  const entries: Record<string, Entry> = {};
  for (const name of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, name);
    const info = await stat(file);
    const sha256 = info.isDirectory()
      ? 'dir'
      : createHash('sha256')
          .update(await readFile(file))
          .digest('hex');
    entries[name] = { sha256, mtimeMs: info.mtimeMs, mode: info.mode & 0o777 };
  }
  return entries;
}

const changedFiles = (before: Record<string, Entry>, after: Record<string, Entry>) =>
  Object.keys({ ...before, ...after })
    .filter((name) => before[name]?.sha256 !== after[name]?.sha256)
    .sort();

describe('npm run secrets', () => {
  let root: string;
  let lab: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'swarmlab-secrets-'));
    lab = path.join(root, 'lab');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const run = (args: string[] = [], env: Record<string, string> = {}) => {
    const { LAB_DOMAIN: _ignored, ...inherited } = process.env;
    return $({ cwd: REPO, nothrow: true, quiet: true, env: { ...inherited, LAB_DIR: lab, ...env } })`${TSX} ${[
      'scripts/secrets.ts',
      ...args,
    ]}`;
  };
  const file = (relative: string) => path.join(lab, relative);
  const read = (relative: string) => readFile(file(relative), 'utf8');
  const versions = async () => JSON.parse(await read('secrets/versions.json')) as Record<string, number>;
  /** openssl's own check: signed by the lab CA, fit for a TLS server, valid for `host`. */
  const verifyFor = (host: string) =>
    $({
      nothrow: true,
      quiet: true,
    })`openssl verify -CAfile ${file('ca/ca.crt')} -purpose sslserver -verify_hostname ${host} ${file('tls/server.crt')}`;

  it('when run twice, then the second run changes no file (same bytes, same mtimes) and says so', async () => {
    const first = await run();
    const before = await snapshot(lab);

    const second = await run();

    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/app_password\s+created\s+secrets\/app_password/);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/app_password\s+kept\s+secrets\/app_password/);
    expect(second.stdout).toContain('Nothing changed');
    expect(await snapshot(lab)).toEqual(before);
  });

  it('when it creates the lab, then every folder is mode 700 and every file 600', async () => {
    await run();

    const entries = await snapshot(lab);

    for (const name of SECRET_NAMES)
      expect(entries).toHaveProperty(path.relative(lab, secretFile(name, labPaths(lab))));
    for (const [name, entry] of Object.entries(entries)) {
      expect({ name, mode: entry.mode.toString(8) }).toEqual({ name, mode: entry.sha256 === 'dir' ? '700' : '600' });
    }
    expect((await stat(lab)).mode & 0o777).toBe(0o700);
  });

  it('when it creates the lab, then passwords are 256-bit random and the URLs and htpasswd line match them', async () => {
    await run();

    const passwords = SECRET_NAMES.filter((name) => CATALOGUE[name].kind === 'password');
    const values = await Promise.all(passwords.map((name) => read(`secrets/${name}`)));
    for (const value of values) expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(values).size).toBe(values.length);
    expect((await read('secrets/jwt_secret')).length).toBeGreaterThanOrEqual(64);
    const app = await read('secrets/app_password');
    const migrator = await read('secrets/migrator_password');
    expect(await read('secrets/database_url')).toBe(`postgresql://app:${app}@db-rw:5432/swarmlab`);
    expect(await read('secrets/database_replica_url')).toBe(`postgresql://app:${app}@db-ro:5433/swarmlab`);
    expect(await read('secrets/migration_database_url')).toBe(`postgresql://migrator:${migrator}@db-rw:5432/swarmlab`);
    const line = (await read('secrets/ops_basic_auth')).trim();
    const [, salt] = /^admin:\$apr1\$([^$]+)\$/.exec(line) ?? [];
    const clear = await read('secrets/ops_basic_auth.password');
    const rehashed = await $({ quiet: true, input: clear })`openssl passwd -apr1 -salt ${salt ?? ''} -stdin`;
    expect(`admin:${rehashed.stdout.trim()}`).toBe(line);
    expect(await read('secrets/README')).toMatch(/Never commit it/);
  });

  it('when it creates the lab, then the server certificate verifies against the CA for api. and grafana.lab.localhost only', async () => {
    await run();

    expect((await verifyFor('api.lab.localhost')).exitCode).toBe(0);
    expect((await verifyFor('grafana.lab.localhost')).exitCode).toBe(0);
    expect((await verifyFor('api.example.test')).exitCode).not.toBe(0);
    const ca = (await $({ quiet: true })`openssl x509 -noout -text -in ${file('ca/ca.crt')}`).stdout;
    expect(ca).toMatch(/CA:TRUE/);
    expect(ca).toMatch(/Certificate Sign/);
    expect(ca).toMatch(/ecdsa-with-SHA256/);
    const server = new X509Certificate(await read('tls/server.crt'));
    const days = (Date.parse(server.validTo) - Date.parse(server.validFrom)) / DAY_MS;
    expect(days).toBeLessThanOrEqual(397);
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    const caCert = new X509Certificate(await read('ca/ca.crt'));
    expect((Date.parse(caCert.validTo) - Date.parse(caCert.validFrom)) / DAY_MS).toBeGreaterThanOrEqual(3650);
  });

  it('when LAB_DOMAIN=example.test, then the certificate also covers api.example.test', async () => {
    const result = await run([], { LAB_DOMAIN: 'example.test' });

    expect(result.exitCode, result.stderr).toBe(0);
    expect((await verifyFor('api.example.test')).exitCode).toBe(0);
    expect((await verifyFor('api.lab.localhost')).exitCode).toBe(0);
  });

  it('when LAB_DOMAIN was set as the CA was made and is unset later, then only the server certificate is issued again', async () => {
    await run([], { LAB_DOMAIN: 'example.test' });
    const before = await snapshot(lab);

    const result = await run();

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/tls_cert\s+reissued/);
    expect(changedFiles(before, await snapshot(lab))).toEqual([
      'secrets/versions.json',
      'tls/server.crt',
      'tls/server.key',
    ]);
    expect(await versions()).toMatchObject({ tls_cert: 2, tls_key: 2, lab_ca_cert: 1 });
    expect((await verifyFor('api.lab.localhost')).exitCode).toBe(0);
    expect((await verifyFor('api.example.test')).exitCode).not.toBe(0);
  });

  it('when LAB_DOMAIN names a domain the lab CA was not made for, then it stops, says how to get a CA for it, and changes nothing', async () => {
    await run();
    const before = await snapshot(lab);

    const result = await run([], { LAB_DOMAIN: 'example.test' });

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/The CA cannot sign \*\.lab\.localhost, lab\.localhost, \*\.example\.test/);
    expect(result.stderr).toMatch(/LAB_DOMAIN=example\.test is not among the names the lab CA was made for/);
    expect(result.stderr).toMatch(/move \.lab\/ca\/ca\.crt and ca\.key away, run npm run secrets/);
    expect(changedFiles(before, await snapshot(lab))).toEqual([]);
  });

  it("when the lab CA is made, then it signs only the lab's names: a certificate for any other name does not verify", async () => {
    await run();
    const ca = (await $({ quiet: true })`openssl x509 -noout -ext nameConstraints -in ${file('ca/ca.crt')}`).stdout;
    expect(ca).toMatch(/X509v3 Name Constraints: critical/);
    for (const permitted of [
      'DNS:lab.localhost',
      'DNS:localhost',
      'DNS:node1',
      'DNS:postgres1',
      'IP:127.0.0.0/255.0.0.0',
    ])
      expect(ca).toContain(permitted);
    // What a stolen CA key would be used for: openssl signs it, every TLS client refuses it.
    const staging = new Staging();
    const forged = { key: file('tls/forged.key'), cert: file('tls/forged.crt') };
    const caFiles = { key: file('ca/ca.key'), cert: file('ca/ca.crt') };
    await expect(
      stageCert(staging, forged, caFiles, { commonName: 'bank', dns: ['bank.example.com'] }),
    ).rejects.toThrow(/The CA cannot sign bank\.example\.com \(.*(permitted subtree violation|name constraints).*\)/i);
    await expect(stageCert(staging, forged, caFiles, { commonName: 'ip', ips: ['10.0.0.1'] })).rejects.toThrow(
      /The CA cannot sign 10\.0\.0\.1/,
    );
    await staging.discard();
    // Every certificate the lab makes from it verifies: the server's, pgBackRest's, node1's.
    await ensureNodeTls(labPaths(lab));
    for (const cert of ['tls/server.crt', 'tls/pgbackrest.crt', 'nodes/node1.crt'])
      expect(
        (await $({ nothrow: true, quiet: true })`openssl verify -CAfile ${file('ca/ca.crt')} ${file(cert)}`).exitCode,
        cert,
      ).toBe(0);
  });

  it('when --rotate app_password, then only it and the URLs built from it change, each one version up', async () => {
    await run();
    const before = await snapshot(lab);
    const oldPassword = await read('secrets/app_password');

    const result = await run(['--rotate', 'app_password']);

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/app_password\s+rotated/);
    expect(changedFiles(before, await snapshot(lab))).toEqual([
      'secrets/app_password',
      'secrets/database_replica_url',
      'secrets/database_url',
      'secrets/versions.json',
    ]);
    const newPassword = await read('secrets/app_password');
    expect(newPassword).not.toBe(oldPassword);
    expect(await read('secrets/database_url')).toBe(`postgresql://app:${newPassword}@db-rw:5432/swarmlab`);
    const bumped = ['app_password', 'database_url', 'database_replica_url'];
    for (const [name, version] of Object.entries(await versions())) {
      expect({ name, version }).toEqual({ name, version: bumped.includes(name) ? 2 : 1 });
    }
  });

  it('when --rotate names no known secret, then it exits 1 with one sentence and changes nothing', async () => {
    await run();
    const before = await snapshot(lab);

    const result = await run(['--rotate', 'app_pasword']);

    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toMatch(/^There is no secret named "app_pasword" to rotate; the names are: .*\.$/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await snapshot(lab)).toEqual(before);
  });

  it.each([
    ['pgbackrest_cipher_pass', /every backup and archived WAL segment in the repository is encrypted with it/],
    ['pg_superuser_password', /Patroni logs in with it as soon as PostgreSQL starts/],
    ['grafana_admin_password', /Grafana applies it only when it creates its database/],
  ])(
    'when --rotate %s, which a new value would break, then it exits 1 with the reason and changes nothing',
    async (name, reason) => {
      await run();
      const before = await snapshot(lab);

      const result = await run(['--rotate', name]);

      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`${name} cannot be rotated by this command: `);
      expect(result.stderr).toMatch(reason);
      expect(await snapshot(lab)).toEqual(before);
    },
  );

  it("when --rotate admin_password for a lab whose API does not answer, then it exits 1 (the password is in the API's database too) and changes nothing", async () => {
    await run();
    await writeFile(file('lab.json'), '{"driver":"docker"}\n');
    const before = await snapshot(lab);

    // LAB_DIR's CA signed no certificate of any edge this host may run: the API cannot be reached with it.
    const result = await run(['--rotate', 'admin_password']);

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /The lab's API does not answer at https:\/\/api\.lab\.localhost:8443 .*Nothing was changed/s,
    );
    // The new value was staged beside the old one, then discarded: every file as it was, none left behind.
    expect(changedFiles(before, await snapshot(lab))).toEqual([]);
  });

  it('when --rotate admin_password before any lab exists, then only the secret changes (the first deploy creates the admin with it)', async () => {
    await run();
    const before = await snapshot(lab);

    const result = await run(['--rotate', 'admin_password']);

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/no lab yet: the first deploy creates the admin with the new password/);
    expect(changedFiles(before, await snapshot(lab))).toEqual(['secrets/admin_password', 'secrets/versions.json']);
  });

  it('when --dry-run on an empty lab, then it lists what it would create and writes nothing', async () => {
    const result = await run(['--dry-run']);

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/jwt_secret\s+would be created/);
    expect(result.stdout).toMatch(/tls_cert\s+would be created/);
    await expect(stat(lab)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('when LAB_DIR cannot be written, then it exits 1 with one sentence naming it', async () => {
    const blocker = path.join(root, 'a-file');
    await writeFile(blocker, '');

    const result = await run([], { LAB_DIR: path.join(blocker, 'lab') });

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^Cannot use .*a-file\/lab.* \(ENOTDIR\): .*LAB_DIR/m);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('when a kept file has a loose mode, then it is tightened to 600 and its value kept', async () => {
    await run();
    const value = await read('secrets/jwt_secret');
    await chmod(file('secrets/jwt_secret'), 0o644);

    const result = await run();

    expect(result.stdout).toMatch(/tightened mode: secrets\/jwt_secret/);
    expect((await stat(file('secrets/jwt_secret'))).mode & 0o777).toBe(0o600);
    expect(await read('secrets/jwt_secret')).toBe(value);
  });
});

describe('ensureLabSecrets', () => {
  let lab: string;
  beforeEach(async () => {
    lab = await mkdtemp(path.join(tmpdir(), 'swarmlab-secrets-lib-'));
  });
  afterEach(async () => {
    await rm(lab, { recursive: true, force: true });
  });

  it('when the server certificate expires within 30 days, then it is issued again under the same CA', async () => {
    await ensureLabSecrets({ labDir: lab });
    const caBefore = await readFile(path.join(lab, 'ca/ca.crt'), 'utf8');

    const report = await ensureLabSecrets({ labDir: lab, now: new Date(Date.now() + 370 * DAY_MS) });

    expect(report.rows.find((row) => row.name === 'tls_cert')).toMatchObject({ status: 'reissued' });
    expect(report.rows.find((row) => row.name === 'lab_ca_cert')).toMatchObject({ status: 'kept' });
    expect(await readFile(path.join(lab, 'ca/ca.crt'), 'utf8')).toBe(caBefore);
  });

  it('when a secret exists, then deploy gets its versioned Docker name and the services that mount it', async () => {
    await ensureLabSecrets({ labDir: lab });
    await ensureLabSecrets({ labDir: lab, rotate: 'jwt_secret' });
    const paths = labPaths(lab);
    const current = await readVersions(paths);

    expect(dockerSecretName('jwt_secret', current)).toBe('swarmlab_jwt_secret_v2');
    expect(secretsFor('traefik', paths, current).map((secret) => secret.dockerName)).toEqual([
      'swarmlab_ops_basic_auth_v1',
      'swarmlab_tls_cert_v1',
      'swarmlab_tls_key_v1',
    ]);
    expect(secretsFor('api', paths, current).map((secret) => secret.name)).toEqual([
      'jwt_secret',
      'admin_password',
      'database_url',
      'database_replica_url',
    ]);
    expect(servicesUsing('app_password')).toEqual(['api', 'postgres']);
  });
});

describe('npm run trust-ca', () => {
  let lab: string;
  beforeEach(async () => {
    lab = await mkdtemp(path.join(tmpdir(), 'swarmlab-trust-'));
  });
  afterEach(async () => {
    await rm(lab, { recursive: true, force: true });
  });
  const run = (args: string[] = []) =>
    $({ cwd: REPO, nothrow: true, quiet: true, env: { ...process.env, LAB_DIR: lab } })`${TSX} ${[
      'scripts/trust-ca.ts',
      ...args,
    ]}`;

  it('when the CA exists, then it prints the Debian, macOS, Firefox and curl steps for it', async () => {
    await ensureLabSecrets({ labDir: lab });
    const ca = path.join(lab, 'ca/ca.crt');

    const result = await run();

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`install -m 644 ${ca} /usr/local/share/ca-certificates/swarmlab-lab-ca.crt`);
    expect(result.stdout).toContain('update-ca-certificates');
    expect(result.stdout).toContain(
      `security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca}`,
    );
    expect(result.stdout).toContain('Firefox');
    expect(result.stdout).toContain(`curl --cacert ${ca} https://api.lab.localhost:8443/healthz`);
    expect(result.stdout).toContain(
      'It signs only these names and their subdomains: DNS lab.localhost, DNS localhost, DNS node1, DNS backup, ' +
        'DNS postgres1, DNS postgres2, DNS etcd1, DNS etcd2, DNS etcd3, IP 127.0.0.0/255.0.0.0, ' +
        'IP 192.168.56.0/255.255.255.0.',
    );
  });

  it('when the CA was made before name constraints, then it says what that means and how to get one with them', async () => {
    await mkdir(path.join(lab, 'ca'), { recursive: true });
    const staging = new Staging();
    await stageCa(staging, { key: path.join(lab, 'ca/ca.key'), cert: path.join(lab, 'ca/ca.crt') });
    await staging.commit();

    const result = await run();

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('It has no name constraints (made before the lab added them)');
    expect(result.stdout).toContain('npm run lab:down, move .lab/ca/ca.crt and ca.key away, npm run lab');
  });

  it('when there is no CA yet, then it exits 1 and says to run npm run secrets', async () => {
    const result = await run();

    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toMatch(/^There is no lab CA at .*: run npm run secrets first\.$/);
  });
});

describe("node1's Docker API: its own client CA", () => {
  let lab: string;
  beforeEach(async () => {
    lab = await mkdtemp(path.join(tmpdir(), 'swarmlab-client-ca-'));
  });
  afterEach(async () => {
    await rm(lab, { recursive: true, force: true });
  });

  /** openssl's own check of `cert` against the CA file `caFile` for a TLS client (or server). */
  const verify = (caFile: string, cert: string, purpose: 'sslclient' | 'sslserver' = 'sslclient') =>
    $({ nothrow: true, quiet: true })`openssl verify -CAfile ${caFile} -purpose ${purpose} ${cert}`;

  it("when made, then node1 trusts the host's client certificate and no other certificate of the lab CA", async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    const rows = await ensureNodeTls(paths);
    const nodes = nodeTlsPaths(paths);

    expect(rows.map((row) => `${row.name} ${row.status}`)).toEqual([
      'docker_client_ca created',
      'node1_cert created',
      'docker_client_cert created',
      'registry_users created',
    ]);
    // What node1's dockerd gets as tlscacert (provision.sh), and the certificates that try it.
    expect((await verify(nodes.sharedClientCa, path.join(nodes.dockerCertPath, 'cert.pem'))).exitCode).toBe(0);
    for (const other of [paths.tlsFiles.pgbackrestCert, paths.tlsFiles.serverCert, nodes.node1Cert]) {
      const result = await verify(nodes.sharedClientCa, other);
      expect(result.exitCode, other).not.toBe(0);
      expect(result.stdout + result.stderr).toMatch(/unable to get local issuer certificate/);
    }
    // The CLI still checks node1 against the lab CA.
    expect((await verify(path.join(nodes.dockerCertPath, 'ca.pem'), nodes.node1Cert, 'sslserver')).exitCode).toBe(0);
    expect(await readFile(nodes.sharedClientCa, 'utf8')).toBe(await readFile(nodes.clientCa.cert, 'utf8'));
    expect((await stat(nodes.clientCa.key)).mode & 0o777).toBe(0o600);
  });

  it('when a lab made before it has a client certificate of the lab CA, then the CA is made and the certificate reissued from it', async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    const nodes = nodeTlsPaths(paths);
    await ensureNodeTls(paths);
    // The layout of an older lab: no client CA, the client certificate from the lab CA.
    await rm(nodes.clientCa.key);
    await rm(nodes.clientCa.cert);
    const client = {
      key: path.join(nodes.dockerCertPath, 'key.pem'),
      cert: path.join(nodes.dockerCertPath, 'cert.pem'),
    };
    await rm(client.key);
    await rm(client.cert);
    const staging = new Staging();
    await stageCert(staging, client, { key: paths.tlsFiles.caKey, cert: paths.tlsFiles.caCert }, CLIENT_SUBJECT);
    await staging.commit();

    const rows = await ensureNodeTls(paths);

    expect(rows).toEqual([
      expect.objectContaining({ name: 'docker_client_ca', status: 'created' }),
      expect.objectContaining({ name: 'node1_cert', status: 'kept' }),
      expect.objectContaining({
        name: 'docker_client_cert',
        status: 'reissued',
        note: 'not signed by the Docker client CA',
      }),
      expect.objectContaining({ name: 'registry_users', status: 'kept' }),
    ]);
    expect((await verify(nodes.sharedClientCa, client.cert)).exitCode).toBe(0);
  });

  it('when the client CA is half there, then it stops and says what to do, changing nothing', async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    await ensureNodeTls(paths);
    const nodes = nodeTlsPaths(paths);
    await rm(nodes.clientCa.key);
    const before = await snapshot(lab);

    await expect(ensureNodeTls(paths)).rejects.toThrow(
      /The CA docker-client-ca\.crt in .* is broken \(docker-client-ca\.key is missing\): restore it, or delete/,
    );
    expect(await snapshot(lab)).toEqual(before);
  });
});

describe("node1's registry users (registry_password)", () => {
  let lab: string;
  beforeEach(async () => {
    lab = await mkdtemp(path.join(tmpdir(), 'swarmlab-registry-users-'));
  });
  afterEach(async () => {
    await rm(lab, { recursive: true, force: true });
  });

  it('when made, then node1 gets a bcrypt line for the password, kept while it holds, rewritten after a rotation', async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    const htpasswd = registryHtpasswd(paths);

    expect(await ensureRegistryUsers(paths)).toMatchObject({ name: 'registry_users', status: 'created' });
    const line = await readFile(htpasswd, 'utf8');
    const password = await readFile(secretFile('registry_password', paths), 'utf8');
    expect(line).toMatch(/^swarmlab:\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}\n$/);
    expect(await bcrypt.compare(password, line.trim().slice('swarmlab:'.length))).toBe(true);
    expect((await stat(htpasswd)).mode & 0o777).toBe(0o600);
    expect(await ensureRegistryUsers(paths)).toMatchObject({ status: 'kept' });
    expect(await readFile(htpasswd, 'utf8')).toBe(line);

    await ensureLabSecrets({ labDir: lab, rotate: 'registry_password' });
    const rotated = await readFile(secretFile('registry_password', paths), 'utf8');
    expect(await ensureRegistryUsers(paths)).toMatchObject({ status: 'updated' });
    const next = (await readFile(htpasswd, 'utf8')).trim().slice('swarmlab:'.length);
    expect(await bcrypt.compare(rotated, next)).toBe(true);
    expect(await bcrypt.compare(password, next)).toBe(false);
  });

  it("when the CLI needs them, then its DOCKER_CONFIG holds them for both of the registry's names, and this user's contexts", async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    const own = path.join(lab, 'own-docker-config');
    await mkdir(path.join(own, 'contexts'), { recursive: true });
    await writeFile(path.join(own, 'config.json'), JSON.stringify({ currentContext: 'desktop-linux' }));

    const { DOCKER_CONFIG: dir } = await registryCliEnv(paths, { DOCKER_CONFIG: own });

    const config = JSON.parse(await readFile(path.join(dir!, 'config.json'), 'utf8')) as {
      auths: Record<string, { auth: string }>;
      currentContext?: string;
    };
    const password = await readFile(secretFile('registry_password', paths), 'utf8');
    const auth = Buffer.from(`swarmlab:${password}`).toString('base64');
    expect(config).toEqual({
      auths: { 'node1:5000': { auth }, '127.0.0.1:5000': { auth } },
      currentContext: 'desktop-linux',
    });
    expect((await stat(path.join(dir!, 'config.json'))).mode & 0o777).toBe(0o600);
    expect(await readlink(path.join(dir!, 'contexts'))).toBe(path.join(own, 'contexts'));
    // Without the secret (a lab from before it), the CLI keeps its own configuration.
    await rm(secretFile('registry_password', paths));
    expect(await registryCliEnv(paths, { DOCKER_CONFIG: own })).toEqual({});
  });
});

describe("the host's Docker client certificate as Jenkins' secrets (docker_client_cert, docker_client_key)", () => {
  let lab: string;
  beforeEach(async () => {
    lab = await mkdtemp(path.join(tmpdir(), 'swarmlab-client-secrets-'));
  });
  afterEach(async () => {
    await rm(lab, { recursive: true, force: true });
  });

  /** A swarm that keeps the secrets created in it (name, data, labels), as dockerode's listSecrets/createSecret. */
  function fakeSwarm() {
    const secrets: { Name: string; Data: string; Labels: Record<string, string> }[] = [];
    const docker = {
      listSecrets: async () => secrets.map((spec) => ({ Spec: spec })),
      createSecret: async (spec: (typeof secrets)[number]) => {
        secrets.push(spec);
        return {};
      },
    };
    return { secrets, lab: { docker } as unknown as Lab };
  }

  it('when the certificate exists, then both are named by its hash and made from LAB_DIR/docker', async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    await ensureNodeTls(paths);
    const cert = await readFile(path.join(lab, 'docker/cert.pem'));
    const hash = createHash('sha256').update(cert).digest('hex').slice(0, 12);

    expect(dockerClientTlsHash(paths)).toBe(hash);
    expect(dockerClientSecrets(paths)).toEqual([
      {
        name: 'docker_client_cert',
        dockerName: `swarmlab_docker_client_cert_${hash}`,
        file: path.join(lab, 'docker/cert.pem'),
      },
      {
        name: 'docker_client_key',
        dockerName: `swarmlab_docker_client_key_${hash}`,
        file: path.join(lab, 'docker/key.pem'),
      },
    ]);
  });

  it('when the certificate is reissued, then both get new names (and Jenkins rolls); the lab secrets keep theirs', async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    await ensureNodeTls(paths);
    const before = dockerClientSecrets(paths).map((secret) => secret.dockerName);
    const versions = await readVersions(paths);

    await ensureNodeTls(paths, new Date(Date.now() + 400 * DAY_MS));

    const after = dockerClientSecrets(paths).map((secret) => secret.dockerName);
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
    expect(await readVersions(paths)).toEqual(versions);
  });

  it('when the certificate is missing, then there is no hash and the names stop with the next step', () => {
    expect(dockerClientTlsHash(labPaths(lab))).toBeUndefined();
    expect(() => dockerClientSecrets(labPaths(lab))).toThrow(/docker\/cert\.pem is missing: run npm run secrets/);
  });

  it('when deploy makes the Docker secrets twice, then the second time creates nothing; no value is in a label', async () => {
    await ensureLabSecrets({ labDir: lab });
    const paths = labPaths(lab);
    await ensureNodeTls(paths);
    const versions = await readVersions(paths);
    const swarm = fakeSwarm();

    const first = await ensureDockerSecrets(swarm.lab, paths, versions);
    const second = await ensureDockerSecrets(swarm.lab, paths, versions);

    const hash = dockerClientTlsHash(paths);
    expect(first).toEqual(
      expect.arrayContaining([`swarmlab_docker_client_cert_${hash}`, `swarmlab_docker_client_key_${hash}`]),
    );
    // Every secret but registry_password (no task mounts it), and the client certificate's two.
    expect(first).toHaveLength(SECRET_NAMES.length - 1 + 2);
    expect(first.some((name) => name.startsWith('swarmlab_registry_password'))).toBe(false);
    expect(second).toEqual([]);
    const key = swarm.secrets.find((secret) => secret.Name.startsWith('swarmlab_docker_client_key_'))!;
    expect(Buffer.from(key.Data, 'base64').toString()).toBe(await readFile(path.join(lab, 'docker/key.pem'), 'utf8'));
    expect(key.Labels).toEqual({ 'swarmlab.secret': 'docker_client_key' });
  });
});
