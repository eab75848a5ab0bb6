// Traefik's configuration, validated against Traefik's published JSON Schemas, and the rules the lab
// relies on: HTTP always redirects to HTTPS, TLS 1.2+, the Swarm provider only through the read-only
// proxy and only for services that opt in, and every middleware the routers name exists.
import { readFile, readdir } from 'node:fs/promises';
import { BlockList } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';

// Parsed YAML, walked freely by the assertions once the schema has checked its shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = Record<string, any>;

const TRAEFIK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function readYaml(file: string): Promise<Yaml> {
  return parse(await readFile(path.join(TRAEFIK, file), 'utf8')) as Yaml;
}

async function schema(file: string): Promise<ValidateFunction> {
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(JSON.parse(await readFile(path.join(TRAEFIK, 'schemas', file), 'utf8')));
}

let staticConfig: Yaml;
let dynamicFiles: Record<string, Yaml>;
beforeAll(async () => {
  staticConfig = await readYaml('traefik.yml');
  const files = (await readdir(path.join(TRAEFIK, 'dynamic'))).filter((f) => f.endsWith('.yml'));
  dynamicFiles = Object.fromEntries(await Promise.all(files.map(async (f) => [f, await readYaml(`dynamic/${f}`)])));
});

describe('traefik static configuration', () => {
  it('is valid against the Traefik v3 schema', async () => {
    const validate = await schema('traefik-v3.json');
    expect(validate(staticConfig), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('redirects HTTP to HTTPS and serves TLS on websecure with the security headers', () => {
    const { web, websecure } = staticConfig.entryPoints;
    expect(web.http.redirections.entryPoint).toMatchObject({ to: ':8443', scheme: 'https', permanent: true });
    expect(websecure.address).toBe(':443');
    expect(websecure.http.tls).toBeDefined();
    expect(websecure.http.middlewares).toContain('security-headers@file');
  });

  it('reads Swarm only through the read-only socket proxy, and only services that opt in', () => {
    expect(staticConfig.providers.swarm.endpoint).toBe('tcp://docker-socket-proxy:2375');
    expect(staticConfig.providers.swarm.exposedByDefault).toBe(false);
    expect(staticConfig.providers.docker).toBeUndefined();
  });

  it('exposes Prometheus metrics and JSON access logs without credentials', () => {
    expect(staticConfig.metrics.prometheus.entryPoint).toBe('metrics');
    expect(staticConfig.metrics.prometheus.manualRouting).toBe(true);
    expect(staticConfig.accessLog.format).toBe('json');
    expect(staticConfig.accessLog.fields.headers.names.Authorization).toBe('drop');
    expect(staticConfig.global.sendAnonymousUsage).toBe(false);
  });
});

describe('traefik dynamic configuration', () => {
  it('every file is valid against the Traefik v3 file-provider schema', async () => {
    const validate = await schema('traefik-v3-file-provider.json');
    expect(Object.keys(dynamicFiles).length).toBeGreaterThanOrEqual(2);
    for (const [file, config] of Object.entries(dynamicFiles)) {
      expect(validate(config), `${file}: ${JSON.stringify(validate.errors, null, 2)}`).toBe(true);
    }
  });

  it('allows TLS 1.2 and 1.3 only, with forward-secret AEAD ciphers, and a default certificate from secrets', () => {
    const tls = dynamicFiles['tls.yml']!.tls;
    expect(tls.options.default.minVersion).toBe('VersionTLS12');
    for (const suite of tls.options.default.cipherSuites as string[])
      expect(suite).toMatch(/^TLS_ECDHE_.*(GCM|CHACHA20)/);
    expect(tls.stores.default.defaultCertificate).toEqual({
      certFile: '/run/secrets/tls_cert',
      keyFile: '/run/secrets/tls_key',
    });
  });

  it('defines the middlewares the lab names: headers with HSTS, compression, rate limit, retry, ops auth', () => {
    const middlewares = dynamicFiles['middlewares.yml']!.http.middlewares;
    expect(Object.keys(middlewares).sort()).toEqual([
      'compress',
      'not-from-api-networks',
      'ops-auth',
      'rate-limit',
      'retry',
      'security-headers',
    ]);
    expect(middlewares['security-headers'].headers.stsSeconds).toBeGreaterThanOrEqual(31_536_000);
    expect(middlewares['ops-auth'].basicAuth.usersFile).toBe('/run/secrets/ops_basic_auth');
  });

  it("routes the metrics for every private address but the API's networks (10.212.0.0/22)", () => {
    const { routers, middlewares } = dynamicFiles['middlewares.yml']!.http;
    expect(routers.metrics).toEqual({
      entryPoints: ['metrics'],
      rule: 'PathPrefix(`/metrics`)',
      service: 'prometheus@internal',
      middlewares: ['not-from-api-networks'],
    });
    const allowed = new BlockList();
    for (const range of middlewares['not-from-api-networks'].ipAllowList.sourceRange as string[]) {
      const [address, prefix] = range.split('/');
      allowed.addSubnet(address!, Number(prefix));
    }
    for (const api of ['10.212.0.2', '10.212.1.7', '10.212.2.200', '10.212.3.255'])
      expect(allowed.check(api), api).toBe(false);
    for (const other of [
      '10.0.1.5',
      '10.210.0.4',
      '10.211.255.254',
      '10.212.4.1',
      '10.212.255.9',
      '10.213.56.11',
      '10.215.0.1',
      '10.216.0.1',
      '10.255.0.3',
    ])
      expect(allowed.check(other), other).toBe(true);
    for (const other of ['172.18.0.2', '192.168.56.11', '127.0.0.1']) expect(allowed.check(other), other).toBe(true);
  });

  it('a configuration with a mistake is refused by the schema (the check can fail)', async () => {
    const validate = await schema('traefik-v3-file-provider.json');
    expect(validate({ http: { middlewares: { bad: { headerz: {} } } } })).toBe(false);
    const validateStatic = await schema('traefik-v3.json');
    expect(validateStatic({ entryPoints: { web: { adress: ':80' } } })).toBe(false);
  });
});
