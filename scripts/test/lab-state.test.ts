// The lab state the pipeline deploys with (scripts/lib/lab-state.ts, `npm run lab:state`): made from a real lab folder
// (npm run secrets' own code, real openssl), packed, unpacked elsewhere, and refused when it is not what deploy made.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { node1Ports } from '../lib/lab-context.js';
import { ensureLabSecrets, labPaths, SECRET_NAMES, secretFile, type LabPaths } from '../lib/lab-secrets.js';
import { ensureNodeTls, nodeTlsPaths } from '../lib/lab-node-tls.js';
import {
  checkLabState,
  LAB_STATE_FORMAT,
  labStateHash,
  labStateSecretName,
  packLabState,
  parseLabState,
  pipelineSettings,
  readLabSettings,
  unpackLabState,
  type LabSettings,
} from '../lib/lab-state.js';
import { REPO_ROOT } from '../lib/paths.js';

const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const SETTINGS: LabSettings = {
  driver: 'docker',
  edge: 'haproxy',
  env: { SWARMLAB_GIT_BRANCH: 'trunk' },
};

let root: string;
/** The operator's lab folder, as npm run secrets and lab:up leave it. */
let operator: LabPaths;
let packed: string;

/** Every file under `dir` with its mode, by relative path. */
async function files(dir: string): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const name of await readdir(dir, { recursive: true })) {
    result[name] = (await stat(path.join(dir, name))).mode & 0o777;
  }
  return result;
}

const withFiles = (edit: (files: Record<string, string>) => void) => {
  const document = JSON.parse(packed) as { files: Record<string, string> };
  edit(document.files);
  return JSON.stringify(document);
};

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'swarmlab-lab-state-'));
  operator = labPaths(path.join(root, 'operator'));
  await ensureLabSecrets({ labDir: operator.root });
  await ensureNodeTls(operator);
  packed = await packLabState(SETTINGS, operator);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('packLabState', () => {
  it('when packed, then it holds every secret, its version, the CA certificate and the client certificate', () => {
    const state = parseLabState(packed, 'the test state');
    const names = [...state.files.keys()];

    for (const name of SECRET_NAMES) expect(names).toContain(path.relative(operator.root, secretFile(name, operator)));
    expect(names).toEqual(expect.arrayContaining(['secrets/versions.json', 'docker/cert.pem', 'docker/key.pem']));
    expect(state.settings).toEqual(SETTINGS);
    expect(JSON.parse(packed)).toMatchObject({ format: LAB_STATE_FORMAT });
  });

  it("when packed, then the CAs' keys and node1's own certificate stay behind", async () => {
    const names = [...parseLabState(packed, 'the test state').files.keys()];
    const clientCaKey = nodeTlsPaths(operator).clientCa.key;

    expect(existsSync(operator.tlsFiles.caKey)).toBe(true);
    expect(existsSync(clientCaKey)).toBe(true);
    expect(names).not.toContain('ca/ca.key');
    expect(names).not.toContain('ca/docker-client-ca.key');
    expect(names).toContain('ca/docker-client-ca.crt');
    expect(names.filter((name) => name.startsWith('nodes/'))).toEqual([]);
    for (const key of [operator.tlsFiles.caKey, clientCaKey]) {
      expect(packed).not.toContain(Buffer.from(await readFile(key)).toString('base64'));
    }
  });

  it('when packed twice, then the bytes are the same, and so is the Docker secret it names', async () => {
    const again = await packLabState({ ...SETTINGS, env: { ...SETTINGS.env } }, operator);

    expect(again).toBe(packed);
    expect(labStateSecretName(again)).toBe(`swarmlab_lab_state_${labStateHash(packed)}`);
    expect(labStateHash(packed)).toBe(createHash('sha256').update(packed).digest('hex').slice(0, 12));
  });

  it('when a setting or a secret changes, then the state gets another name (and Jenkins the new one)', async () => {
    const otherEdge = await packLabState({ ...SETTINGS, edge: 'traefik' }, operator);
    const copy = labPaths(path.join(root, 'rotated'));
    await $`cp -a ${operator.root} ${copy.root}`;
    await ensureLabSecrets({ labDir: copy.root, rotate: 'jwt_secret' });

    expect(labStateHash(otherEdge)).not.toBe(labStateHash(packed));
    expect(labStateHash(await packLabState(SETTINGS, copy))).not.toBe(labStateHash(packed));
  });

  it('when a secret or the client certificate is missing, then it stops and says what to run', async () => {
    const copy = labPaths(path.join(root, 'incomplete'));
    await $`cp -a ${operator.root} ${copy.root}`;
    await rm(path.join(copy.root, 'docker/key.pem'));
    await rm(secretFile('app_password', copy));

    await expect(packLabState(SETTINGS, copy)).rejects.toThrow(
      /incomplete \(secrets\/app_password, docker\/key\.pem missing\): run npm run secrets/,
    );
  });

  it("when the folder holds more than Docker's 500 KB for a secret, then it stops instead of failing in Docker", async () => {
    const copy = labPaths(path.join(root, 'big'));
    await $`cp -a ${operator.root} ${copy.root}`;
    await writeFile(path.join(copy.secrets, 'backup.tar'), Buffer.alloc(400 * 1024, 1));

    await expect(packLabState(SETTINGS, copy)).rejects.toThrow(/over Docker's 500 KB for a secret/);
  });
});

describe('unpackLabState', () => {
  it('when unpacked into an empty folder, then packing it again gives the same bytes (Jenkins is not rolled)', async () => {
    const pipeline = labPaths(path.join(root, 'pipeline-roundtrip'));
    await unpackLabState(parseLabState(packed, 'the test state'), pipeline);
    const settings = await readLabSettings(pipeline);

    expect(settings).toEqual(SETTINGS);
    expect(await packLabState(settings!, pipeline)).toBe(packed);
  });

  it('when unpacked, then folders are 700, files 600, and the state checks as deployable', async () => {
    const pipeline = labPaths(path.join(root, 'pipeline-modes'));
    await unpackLabState(parseLabState(packed, 'the test state'), pipeline);
    const modes = await files(pipeline.root);

    expect(Object.keys(modes).length).toBeGreaterThan(SECRET_NAMES.length);
    for (const [name, mode] of Object.entries(modes)) {
      const isDir = (await stat(path.join(pipeline.root, name))).isDirectory();
      expect(mode, name).toBe(isDir ? 0o700 : 0o600);
    }
    expect(await checkLabState(pipeline, undefined)).toEqual([]);
    expect(existsSync(pipeline.tlsFiles.caKey)).toBe(false);
  });

  it('when the state no longer has a file, then it is removed, and the deploy records are kept', async () => {
    const pipeline = labPaths(path.join(root, 'pipeline-stale'));
    await unpackLabState(parseLabState(packed, 'the test state'), pipeline);
    await writeFile(path.join(pipeline.secrets, 'slack_webhook_url'), 'https://hooks.slack.com/services/T/B/X');
    await mkdir(path.join(pipeline.root, 'deploy'));
    await writeFile(path.join(pipeline.root, 'deploy/history.jsonl'), '{"result":"success"}\n');

    const stale = await unpackLabState(parseLabState(packed, 'the test state'), pipeline);

    expect(stale).toEqual(['secrets/slack_webhook_url']);
    expect(existsSync(path.join(pipeline.secrets, 'slack_webhook_url'))).toBe(false);
    expect(await readFile(path.join(pipeline.root, 'deploy/history.jsonl'), 'utf8')).toBe('{"result":"success"}\n');
  });
});

describe('parseLabState', () => {
  // Each made once `packed` exists.
  const refusals: [string, () => string, RegExp][] = [
    ['not JSON', () => '{"format":', /not JSON/],
    ['another format', () => JSON.stringify({ format: 'swarmlab-lab-state/0', settings: {}, files: {} }), /format/],
    ['a path out of the folder', () => withFiles((files) => (files['secrets/../../x'] = 'eA==')), /may not hold/],
    ["the CA's key", () => withFiles((files) => (files['ca/ca.key'] = 'eA==')), /may not hold: ca\/ca\.key/],
    ['a file elsewhere', () => withFiles((files) => (files['deploy/last.json'] = 'eA==')), /may not hold/],
    ['content that is not base64', () => withFiles((files) => (files['secrets/jwt_secret'] = '%%')), /not base64/],
  ];

  for (const [what, text, message] of refusals) {
    it(`when it holds ${what}, then it is refused with the source named and the next step`, () => {
      const read = () => parseLabState(text(), '/run/secrets/lab_state');

      expect(read).toThrow(message);
      expect(read).toThrow(
        /^\/run\/secrets\/lab_state is not a swarmlab lab state .*made by npm run deploy on the operator's machine/,
      );
    });
  }

  it('when a setting is unknown, then it is refused rather than ignored', () => {
    const document = JSON.parse(packed) as { settings: Record<string, unknown> };
    const unknownEnv = { ...document, settings: { ...document.settings, env: { DOCKER_HOST: 'tcp://elsewhere' } } };
    const unknownEdge = { ...document, settings: { ...document.settings, edge: 'nginx' } };

    expect(() => parseLabState(JSON.stringify(unknownEnv), 'x')).toThrow(/setting DOCKER_HOST/);
    expect(() => parseLabState(JSON.stringify(unknownEdge), 'x')).toThrow(/edge nginx/);
  });
});

describe('checkLabState', () => {
  it('when a certificate is near its end, then the pipeline is told it cannot renew it', async () => {
    const inTwoYears = new Date(Date.now() + 2 * 365 * 86_400_000);
    const problems = await checkLabState(operator, undefined, inTwoYears);

    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tls_cert: expires /),
        expect.stringMatching(/^docker_client_cert/),
      ]),
    );
  });

  it('when LAB_DOMAIN names a domain the certificate does not cover, then that is a problem, not a reissue', async () => {
    expect(await checkLabState(operator, 'lab.example.com')).toEqual([
      expect.stringMatching(/^tls_cert: names changed/),
    ]);
  });

  it('when a secret or its version is missing, then each is named', async () => {
    const copy = labPaths(path.join(root, 'check-missing'));
    await $`cp -a ${operator.root} ${copy.root}`;
    await rm(secretFile('jwt_secret', copy));
    const versions = JSON.parse(await readFile(copy.versions, 'utf8')) as Record<string, number>;
    delete versions.grafana_admin_password;
    await writeFile(copy.versions, JSON.stringify(versions));

    expect(await checkLabState(copy, undefined)).toEqual(['jwt_secret: missing', 'grafana_admin_password: no version']);
  });
});

describe('the pipeline side', () => {
  it("when deploy runs in the pipeline, then the operator's settings fill what the environment leaves unset", async () => {
    const pipeline = labPaths(path.join(root, 'pipeline-env'));
    await unpackLabState(
      parseLabState(
        await packLabState(
          { ...SETTINGS, env: { LAB_DOMAIN: 'lab.example.com', SWARMLAB_GIT_BRANCH: 'trunk' } },
          operator,
        ),
        'x',
      ),
      pipeline,
    );
    const env: NodeJS.ProcessEnv = { SWARMLAB_GIT_BRANCH: 'main' };

    expect((await pipelineSettings(pipeline, env)).edge).toBe('haproxy');
    expect(env).toEqual({ SWARMLAB_GIT_BRANCH: 'main', LAB_DOMAIN: 'lab.example.com' });
    await expect(pipelineSettings(labPaths(path.join(root, 'nothing')), {})).rejects.toThrow(
      /has no lab state: the pipeline runs npm run lab:state before npm run deploy/,
    );
  });

  it("when LAB_NODE1 is set (in the lab), then the edge and the registry are node1's own ports", () => {
    expect(node1Ports({})).toEqual({ host: '127.0.0.1', https: 8443, http: 8080, registry: 5000 });
    expect(node1Ports({ LAB_NODE1: 'node1' })).toEqual({ host: 'node1', https: 443, http: 80, registry: 5000 });
  });
});

describe('npm run lab:state', () => {
  const labState = (labDir: string, ...args: string[]) =>
    $({ nothrow: true, cwd: REPO_ROOT, env: { ...process.env, LAB_DIR: labDir } })`${TSX} scripts/lab-state.ts ${args}`;

  it('when given the state, then it unpacks it into LAB_DIR and says what it holds and what to run next', async () => {
    const from = path.join(root, 'lab_state');
    await writeFile(from, packed);
    const pipeline = path.join(root, 'cli-pipeline');

    const result = await labState(pipeline, '--from', from);

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`${labStateSecretName(packed)}: `);
    expect(result.stdout).toMatch(/edge\s+haproxy/);
    expect(result.stdout).toMatch(/next\s+npm run deploy/);
    expect(await packLabState(SETTINGS, labPaths(pipeline))).toBe(packed);
  });

  it("when LAB_DIR is the operator's folder (it has the CA key), then it refuses and changes nothing", async () => {
    const from = path.join(root, 'lab_state');
    await writeFile(from, packed);
    const before = await files(operator.root);

    const result = await labState(operator.root, '--from', from);

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("holds the lab CA's key");
    expect(await files(operator.root)).toEqual(before);
  });

  it('when there is no state, or a broken one, then it says where it comes from and writes nothing', async () => {
    const pipeline = path.join(root, 'cli-broken');
    const broken = path.join(root, 'broken_state');
    await writeFile(
      broken,
      withFiles((files) => (files['../escape'] = 'eA==')),
    );

    const missing = await labState(pipeline, '--from', path.join(root, 'absent'));
    const refused = await labState(pipeline, '--from', broken);

    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/There is no lab state at .*absent.*run npm run deploy on the operator's machine/);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('a file it may not hold: ../escape');
    expect(existsSync(pipeline)).toBe(false);
    expect(existsSync(path.join(root, 'escape'))).toBe(false);
  });
});
