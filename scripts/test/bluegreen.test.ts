// Blue/green releases at the configuration level: the candidate's stack document made from docker-compose.yml as
// deploy renders it (`docker stack config`, the real CLI), the stack as it stands during a release (api switched to
// api-next, the candidate beside it) checked by the whole stack policy, Traefik's labels included, and the parsing
// of what the edges answer. HAProxy's side of the switch runs for real in edge-fallback.test.ts; the release itself
// runs in the end-to-end test.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANDIDATE,
  CANDIDATE_HEADER,
  candidateStack,
  haproxyLive,
  haproxySwitchCommand,
  ROUTES_MAP,
  SWITCH_LABEL,
  traefikLive,
  withLive,
  withoutApi,
} from '../lib/bluegreen.js';
import { DOCKER_CLIENT_SECRETS } from '../lib/lab-node-tls.js';
import { SECRET_NAMES, type Versions } from '../lib/lab-secrets.js';
import { render } from './helpers/stack-config.js';
import {
  checkStack,
  labelsToDynamic,
  loadPolicyContext,
  stackVariables,
  type PolicyContext,
  type StackSpec,
} from '../lib/stack-policy.js';

const VERSIONS: Versions = Object.fromEntries(SECRET_NAMES.map((name) => [name, 1]));

let rendered: string;
let context: PolicyContext;
let labRoot: string;

beforeAll(async () => {
  // The lab folder deploy reads: the Docker client certificate names its secrets.
  labRoot = await mkdtemp(path.join(tmpdir(), 'swarmlab-bluegreen-'));
  await mkdir(path.join(labRoot, 'docker'));
  await writeFile(path.join(labRoot, 'docker', DOCKER_CLIENT_SECRETS.docker_client_cert), 'a client certificate\n');
  const variables = await stackVariables({
    tag: 'c-0123456789ab',
    versions: VERSIONS,
    labRoot,
    labState: 'a lab state\n',
    managerAddress: '10.213.56.11',
  });
  const result = await render(['docker-compose.yml'], variables);
  if (!result.ok) throw new Error(`docker stack config failed:\n${result.stderr}`);
  rendered = result.stdout;
  context = await loadPolicyContext();
});

afterAll(async () => {
  if (labRoot) await rm(labRoot, { recursive: true, force: true });
});

const stackOf = (text: string) => parse(text) as StackSpec;

describe('the candidate of a blue/green release', () => {
  it('is the rendered api as api-next: same image, secrets, networks, health check and replicas', () => {
    const api = stackOf(rendered).services.api!;
    const candidate = stackOf(candidateStack(rendered)).services;
    expect(Object.keys(candidate)).toEqual([CANDIDATE]);
    const next = candidate[CANDIDATE]!;
    expect(next.image).toBe(api.image);
    expect(next.secrets).toEqual(api.secrets);
    expect(next.networks).toEqual(api.networks);
    expect(next.healthcheck).toEqual(api.healthcheck);
    expect(next.environment).toEqual(api.environment);
    expect(next.deploy?.replicas).toBe(api.deploy?.replicas);
    expect(next.deploy?.endpoint_mode).toBe('dnsrr');
  });

  it('has its own router, reached only with the candidate header, and its own Traefik service with /readyz', () => {
    const next = stackOf(candidateStack(rendered)).services[CANDIDATE]!;
    const { config, problems } = labelsToDynamic(next.deploy?.labels ?? {}, context.traefikKeys);
    expect(problems).toEqual([]);
    expect(Object.keys(config.http?.routers ?? {})).toEqual([CANDIDATE]);
    const router = config.http!.routers![CANDIDATE]!;
    expect(router.rule).toBe(
      `Host(\`api.lab.localhost\`) && !Path(\`/metrics\`) && Header(\`${CANDIDATE_HEADER}\`, \`1\`)`,
    );
    expect(router.service).toBe(CANDIDATE);
    expect(router.tls).toEqual({});
    expect(router.entryPoints).toEqual(['websecure']);
    const service = config.http!.services![CANDIDATE]!.loadBalancer as Record<string, unknown>;
    expect(service.servers).toEqual([{ url: 'http://task:3000' }]);
    expect((service.healthCheck as { path?: string }).path).toBe('/readyz');
  });

  it('keeps the rest of the document (networks, secrets, configs) so docker stack deploy finds what it uses', () => {
    const whole = stackOf(rendered);
    const candidate = stackOf(candidateStack(rendered));
    expect(candidate.networks).toEqual(whole.networks);
    expect(candidate.secrets).toEqual(whole.secrets);
  });
});

describe('the stack during a blue/green release', () => {
  it('when api is switched to api-next beside it, then the whole stack policy still holds and the api router sends to api-next', () => {
    const during = stackOf(withLive(rendered, CANDIDATE));
    during.services[CANDIDATE] = stackOf(candidateStack(rendered)).services[CANDIDATE]!;
    expect(checkStack(during, context)).toEqual([]);
    const api = labelsToDynamic(during.services.api!.deploy!.labels!, context.traefikKeys).config;
    expect(api.http!.routers!.api!.service).toBe(CANDIDATE);
    // The public rule is unchanged: only the service behind it moves.
    expect(api.http!.routers!.api!.rule).toBe(
      stackOf(rendered).services.api!.deploy!.labels!['traefik.http.routers.api.rule'],
    );
  });

  it('when the candidate is missing while api is switched to it, then the policy names the dangling service', () => {
    const dangling = stackOf(withLive(rendered, CANDIDATE));
    expect(checkStack(dangling, context).join('\n')).toMatch(/api-next/);
  });

  it('deploys the rest of the stack without touching the live API, and promotes by the switch label only', () => {
    const rest = stackOf(withoutApi(rendered));
    expect(rest.services.api).toBeUndefined();
    expect(Object.keys(rest.services).length).toBe(Object.keys(stackOf(rendered).services).length - 1);
    const promoted = stackOf(withLive(rendered, CANDIDATE)).services.api!;
    const original = stackOf(rendered).services.api!;
    expect(promoted.deploy!.labels![SWITCH_LABEL]).toBe(CANDIDATE);
    expect({ ...promoted.deploy!.labels, [SWITCH_LABEL]: 'api' }).toEqual(original.deploy!.labels);
    expect(promoted.image).toBe(original.image);
  });

  it('when a first deploy leaves Prometheus for later too, then only the API and Prometheus are left out', () => {
    const first = stackOf(withoutApi(rendered, ['prometheus']));
    expect(Object.keys(stackOf(rendered).services).filter((name) => !first.services[name])).toEqual([
      'api',
      'prometheus',
    ]);
  });

  it('when the stack has no api switch label, then withLive refuses', () => {
    const stack = stackOf(rendered);
    delete stack.services.api!.deploy!.labels![SWITCH_LABEL];
    expect(() => withLive(JSON.stringify(stack), CANDIDATE)).toThrow(SWITCH_LABEL);
  });
});

describe('what the edges answer about the switch', () => {
  it("reads HAProxy's show map and writes its set map", () => {
    expect(haproxySwitchCommand(CANDIDATE)).toBe(`set map ${ROUTES_MAP} api.lab.localhost api_next`);
    expect(haproxySwitchCommand('api')).toBe(`set map ${ROUTES_MAP} api.lab.localhost api`);
    expect(haproxyLive('0x55d0c1e2b3a0 api.lab.localhost api_next\n\n')).toBe(CANDIDATE);
    expect(haproxyLive('0x55d0c1e2b3a0 api.lab.localhost api\n')).toBe('api');
    expect(haproxyLive('0x55d0c1e2b3a0 other.lab.localhost api_next\n')).toBeUndefined();
    expect(haproxyLive('Unknown map identifier.\n')).toBeUndefined();
  });

  it("reads Traefik's router API", () => {
    expect(traefikLive('{"service":"api-next","status":"enabled"}')).toBe(CANDIDATE);
    expect(traefikLive('{"service":"api@swarm"}')).toBe('api');
    expect(traefikLive('{"service":"grafana"}')).toBeUndefined();
    expect(() => traefikLive('not json')).toThrow();
  });
});
