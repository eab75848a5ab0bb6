// The image catalogue (scripts/lib/images.ts) against the Dockerfiles and the stack, and what images:build,
// test:images and deploy do with an image whose official base cannot be pulled (Jenkins, here). No Docker engine
// needed: whether a base can be obtained is a function the tests replace.
import { describe, expect, it } from 'vitest';
import { DEBIAN_BASE, NODE_BASE } from '../lib/base-images.js';
import {
  dockerfileBases,
  IMAGES,
  notBuiltNote,
  officialBaseMissing,
  requireBaseImages,
  splitBuildable,
} from '../lib/images.js';
import { IMAGE_DOCKERFILES, stackImages } from '../lib/stack-policy.js';

const jenkins = IMAGES.find((spec) => spec.name === 'jenkins')!;

/** A stand-in for imageObtainable: the refs in `present` can be had; every call is recorded. */
function probe(present: string[] = []) {
  const calls: string[] = [];
  const obtainable = async (ref: string) => {
    calls.push(ref);
    return present.includes(ref);
  };
  return { calls, obtainable };
}

describe('the image catalogue', () => {
  it('when a Dockerfile starts FROM an image images:seed cannot make, then the catalogue names it as officialBase', async () => {
    for (const spec of IMAGES) {
      const official = (await dockerfileBases(spec.dockerfile)).filter(
        (base) => ![DEBIAN_BASE, NODE_BASE].includes(base),
      );
      expect({ name: spec.name, official }).toEqual({
        name: spec.name,
        official: spec.officialBase ? [spec.officialBase] : [],
      });
    }
    expect(jenkins).toMatchObject({
      dockerfile: 'jenkins/Dockerfile',
      context: 'jenkins',
      officialBase: 'jenkins/jenkins:2.516.3-lts-jdk21',
      configTest: 'scripts/test/jenkins.test.ts',
    });
    expect(jenkins.needs ?? []).toEqual([]);
  });

  it('when the stack uses a swarmlab image, then the catalogue and the stack policy build it from the same Dockerfile', async () => {
    for (const name of await stackImages()) {
      const spec = IMAGES.find((entry) => entry.name === name);
      expect(spec, name).toBeDefined();
      expect(IMAGE_DOCKERFILES[`swarmlab/${name}`], name).toBe(spec!.dockerfile);
    }
    expect(await stackImages()).toContain('jenkins');
  });
});

describe('officialBaseMissing (what deploy skips) and splitBuildable (images:build, test:images)', () => {
  it('when the Jenkins base cannot be pulled, then jenkins is the one image missing, and its base is probed once', async () => {
    const { calls, obtainable } = probe();

    const missing = await officialBaseMissing(['api', 'jenkins', 'postgres', 'jenkins'], obtainable);

    expect(missing).toEqual(['jenkins']);
    expect(calls).toEqual(['jenkins/jenkins:2.516.3-lts-jdk21']);
  });

  it('when the base is present or pullable, then nothing is missing', async () => {
    const { obtainable } = probe([jenkins.officialBase!]);

    expect(await officialBaseMissing(['jenkins', 'api'], obtainable)).toEqual([]);
  });

  it('when no image with an official base is asked about, then nothing is probed', async () => {
    const { calls, obtainable } = probe();

    expect(await officialBaseMissing(['api', 'etcd', 'not-an-image'], obtainable)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('when every image is to be built here, then jenkins is set apart with the sentence the commands print', async () => {
    const { build, notBuilt } = await splitBuildable(IMAGES, probe().obtainable);

    expect(notBuilt.map((spec) => spec.name)).toEqual(['jenkins']);
    expect(build.map((spec) => spec.name)).toEqual(IMAGES.filter((spec) => spec !== jenkins).map((spec) => spec.name));
    expect(`${jenkins.name}: ${notBuiltNote(jenkins)}`).toBe(
      'jenkins: not built: its base jenkins/jenkins:2.516.3-lts-jdk21 cannot be pulled here (official image); ' +
        'checked as configuration only (scripts/test/jenkins.test.ts)',
    );
  });

  it('when requireBaseImages checks jenkins, then it asks only for the bases images:seed makes', async () => {
    // Without an engine (or without the seeded images) it stops: naming node:24-bookworm-slim, never jenkins/jenkins.
    const error = await requireBaseImages([jenkins]).then(
      () => undefined,
      (failure: Error) => failure,
    );

    if (error) {
      expect(error.message).toContain(NODE_BASE);
      expect(error.message).not.toContain('jenkins/jenkins');
    }
  });
});
