// What an image is built from (scripts/lib/image-inputs.ts): the hash that lets an engine deploy the registry's image
// instead of building it again. It must change with everything that changes the image, and with nothing else.
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentBuildArgs, contextFiles, imageInputHash, inputTag, type ImageInputs } from '../lib/image-inputs.js';
import { IMAGES } from '../lib/images.js';
import { REPO_ROOT } from '../lib/paths.js';

const DOCKERFILE = `# syntax=docker/dockerfile:1
FROM node:24-bookworm-slim AS build
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then echo "$EXTRA_CA_CERTS" > /tmp/ca.pem; fi
COPY . /app

FROM node:24-bookworm-slim
ARG GIT_SHA=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.created="\${BUILD_DATE}" \\
      org.opencontainers.image.revision="\${GIT_SHA}"
ENV GIT_SHA=\${GIT_SHA}
COPY --from=build /app /app
`;

let root: string;
let inputs: ImageInputs;

const write = async (file: string, content: string) => {
  await mkdir(path.dirname(path.join(root, file)), { recursive: true });
  await writeFile(path.join(root, file), content);
};
const hash = (changes: Partial<ImageInputs> = {}) => imageInputHash({ ...inputs, ...changes }, root);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'swarmlab-image-inputs-'));
  await write('image/Dockerfile', DOCKERFILE);
  await write('image/.dockerignore', 'node_modules\n**/*.log\ndist\n');
  await write('image/src/server.ts', 'export const answer = 42;\n');
  await write('image/package.json', '{"name":"image"}\n');
  await write('image/node_modules/x/index.js', 'module.exports = 1;\n');
  await write('image/debug.log', 'noise\n');
  await write('elsewhere/README.md', 'not in the context\n');
  inputs = {
    dockerfile: 'image/Dockerfile',
    context: 'image',
    buildArgs: { GIT_SHA: 'a'.repeat(40), BUILD_DATE: '2026-11-22T09:00:00Z', EXTRA_CA_CERTS: '' },
    baseDigests: {},
  };
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('contentBuildArgs', () => {
  it('when a build argument is used by ENV or RUN, then it counts; when only by LABEL, then it does not', () => {
    expect(contentBuildArgs(DOCKERFILE)).toEqual(['EXTRA_CA_CERTS', 'GIT_SHA']);
  });

  it("when read from the lab's Dockerfiles, then the API's commit counts and the labels' dates never do", async () => {
    const args = async (name: string) =>
      contentBuildArgs(
        await readFile(path.join(REPO_ROOT, IMAGES.find((spec) => spec.name === name)!.dockerfile), 'utf8'),
      );

    expect(await args('api')).toEqual(['EXTRA_CA_CERTS', 'GIT_SHA']);
    expect(await args('backup')).toEqual([]);
    for (const spec of IMAGES) {
      const used = contentBuildArgs(await readFile(path.join(REPO_ROOT, spec.dockerfile), 'utf8'));
      expect(used, spec.name).not.toContain('BUILD_DATE');
    }
  });
});

describe('contextFiles', () => {
  it('when the context has a .dockerignore, then the files it excludes are left out, as docker build leaves them', async () => {
    expect(await contextFiles(path.join(root, 'image'))).toEqual([
      '.dockerignore',
      'Dockerfile',
      'package.json',
      'src/server.ts',
    ]);
  });

  it("when the context is the repository, then git's folder, dependencies and the lab's secrets are not in it", async () => {
    const files = await contextFiles(REPO_ROOT);

    expect(files).toContain('api/Dockerfile');
    expect(files.filter((file) => /^(\.git|\.lab|reports)\//.test(file) || file.includes('node_modules/'))).toEqual([]);
  });
});

describe('imageInputHash', () => {
  it('when nothing changed but the time (a touch, a new build date), then the hash is the same', async () => {
    const before = await hash();
    await utimes(path.join(root, 'image/src/server.ts'), new Date(0), new Date(0));

    expect(await hash({ buildArgs: { ...inputs.buildArgs, BUILD_DATE: '2027-01-01T00:00:00Z' } })).toBe(before);
    expect(inputTag(before)).toMatch(/^i-[0-9a-f]{24}$/);
  });

  it('when an ignored file or one outside the context changes, then the hash is the same', async () => {
    const before = await hash();
    await write('image/node_modules/x/index.js', 'module.exports = 2;\n');
    await write('image/debug.log', 'more noise\n');
    await write('elsewhere/README.md', 'changed\n');

    expect(await hash()).toBe(before);
  });

  it('when a source file, its mode, the Dockerfile, a content argument or a base changes, then the hash changes', async () => {
    const before = await hash();
    const changed: Record<string, string> = {};
    changed['commit'] = await hash({ buildArgs: { ...inputs.buildArgs, GIT_SHA: 'b'.repeat(40) } });
    changed['extra CAs'] = await hash({ buildArgs: { ...inputs.buildArgs, EXTRA_CA_CERTS: 'PEM' } });
    changed['base digest'] = await hash({ baseDigests: { 'node:24-bookworm-slim': 'sha256:1234' } });
    await chmod(path.join(root, 'image/src/server.ts'), 0o755);
    changed['mode'] = await hash();
    await chmod(path.join(root, 'image/src/server.ts'), 0o644);
    await write('image/src/server.ts', 'export const answer = 43;\n');
    changed['source'] = await hash();
    await write('image/src/new.ts', 'export {};\n');
    changed['new file'] = await hash();
    await write('image/Dockerfile', `${DOCKERFILE}USER node\n`);
    changed['Dockerfile'] = await hash();

    for (const [what, value] of Object.entries(changed)) expect(value, what).not.toBe(before);
    expect(new Set(Object.values(changed)).size).toBe(Object.keys(changed).length);
  });

  it('when the context holds a link to a folder, then the link counts by its target, and the folder is not read', async () => {
    await symlink('src', path.join(root, 'image/sources'));
    try {
      const withLink = await hash();
      await unlink(path.join(root, 'image/sources'));
      await symlink('elsewhere', path.join(root, 'image/sources'));

      expect(await hash()).not.toBe(withLink);
    } finally {
      await unlink(path.join(root, 'image/sources'));
    }
  });

  it("when the lab's API image is hashed twice from this checkout, then both agree (another engine would too)", async () => {
    const api = IMAGES.find((spec) => spec.name === 'api')!;
    const apiInputs = { ...inputs, dockerfile: api.dockerfile, context: api.context };

    expect(await imageInputHash(apiInputs)).toBe(await imageInputHash(apiInputs));
  });
});
