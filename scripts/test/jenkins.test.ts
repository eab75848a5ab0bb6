// Jenkins as code, checked for shape: the Jenkinsfile (a small brace-aware reader, scripts/lib/jenkinsfile.ts, no
// Groovy runtime), jenkins/casc.yaml, jenkins/plugins.txt, jenkins/jobs.groovy and jenkins/Dockerfile. Jenkins itself
// cannot run here (its image comes from Docker Hub): docs/cicd.md says what is checked instead.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { $ } from 'zx';
import { describe, expect, it } from 'vitest';
import {
  checkJenkinsfile,
  child,
  leafStages,
  parseGroovy,
  shProblem,
  shSteps,
  shStepsIn,
  stageName,
  walk,
  type Node,
} from '../lib/jenkinsfile.js';
import { GIT_REPOSITORY_IN_NODE, repositoryGitDir } from '../lib/lab-docker.js';
import { STRATEGIES } from '../lib/dora.js';
import { CATALOGUE } from '../lib/lab-secrets.js';
import { REPO_ROOT } from '../lib/paths.js';

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const JENKINSFILE = read('Jenkinsfile');
const SCRIPTS = new Set(Object.keys((JSON.parse(read('package.json')) as { scripts: object }).scripts));
const CASC = read('jenkins/casc.yaml');
const DOCKERFILE = read('jenkins/Dockerfile');
const JOBS = read('jenkins/jobs.groovy');
const PLUGINS = read('jenkins/plugins.txt');

const pipeline = () => parseGroovy(JENKINSFILE).find((node) => node.name === 'pipeline')!;

describe('Jenkinsfile', () => {
  it('when read, then it is one declarative pipeline with agent, options, stages and post', () => {
    const nodes = parseGroovy(JENKINSFILE);

    expect(nodes.map((node) => node.name)).toEqual(['pipeline']);
    expect(pipeline().body!.map((node) => node.name)).toEqual(
      expect.arrayContaining(['agent', 'options', 'environment', 'stages', 'post']),
    );
  });

  it('when its stages are listed, then checkout → install → checks (lint, typecheck, tests in parallel) → deploy → record KPIs', () => {
    const stages = child(pipeline(), 'stages')!;

    expect(stages.body!.map(stageName)).toEqual(['checkout', 'install', 'checks', 'deploy', 'record KPIs']);
    const checks = stages.body!.find((stage) => stageName(stage) === 'checks')!;
    expect(child(checks, 'parallel')!.body!.map(stageName)).toEqual(['lint', 'typecheck', 'tests']);
  });

  it('when its leaf stages are checked, then every one, those inside parallel too, has its own timeout', () => {
    const stages = leafStages(child(pipeline(), 'stages'));

    expect(stages.map((stage) => stage.path.join(' › '))).toContain('checks › lint');
    expect(stages.filter((stage) => !stage.hasTimeout || !stage.hasSteps)).toEqual([]);
  });

  it('when the pipeline options are read, then a timeout, no concurrent builds and a build discarder are set', () => {
    const options = child(pipeline(), 'options');

    for (const option of ['timeout', 'disableConcurrentBuilds', 'buildDiscarder']) {
      expect(child(options, option), option).toBeDefined();
    }
  });

  it('when its sh steps are read, then each is npm ci or npm run <a script package.json has>', () => {
    const steps = shSteps(JENKINSFILE);

    expect(steps.map((step) => step.script?.split(' ').slice(0, 3).join(' '))).toEqual([
      'npm ci --no-audit',
      'npm run lint',
      'npm run typecheck',
      'npm run test',
      'npm run lab:state',
      'npm run deploy',
      'npm run rollback',
      'npm run kpi:record',
      'npm run kpi:record',
    ]);
    // Fails until package.json has every script named here (kpi:record comes with scripts/kpi.ts).
    expect(steps.flatMap((step) => shProblem(step.script, SCRIPTS) ?? [])).toEqual([]);
  });

  it('when the tests run, then they record coverage, and the report Jenkins publishes is the one vitest writes', async () => {
    const checks = child(pipeline(), 'stages')!.body!.find((stage) => stageName(stage) === 'checks')!;
    const tests = child(checks, 'parallel')!.body!.find((stage) => stageName(stage) === 'tests')!;
    const always = child(child(tests, 'post'), 'always')!;
    const { default: config } = (await import('../../vitest.config.js')) as {
      default: { test: { coverage: { reportsDirectory: string; reporter: string[] } } };
    };
    const { reportsDirectory, reporter } = config.test.coverage;

    expect(shStepsIn(child(tests, 'steps')!.tokens).map((step) => step.script)).toEqual(['npm run test -- --coverage']);
    expect(reporter).toContain('cobertura');
    expect(child(always, 'recordCoverage')!.args.map((token) => token.text)).toContain(
      `${reportsDirectory}/cobertura-coverage.xml`,
    );
  });

  it("when the deploy stage runs, then it first unpacks the operator's lab state and reaches node1's own ports", () => {
    const deploy = child(pipeline(), 'stages')!.body!.find((stage) => stageName(stage) === 'deploy')!;
    const scripts = shStepsIn(child(deploy, 'steps')!.tokens).map((step) => step.script);

    expect(scripts).toEqual(['npm run lab:state', 'npm run deploy']);
    // deploy then uses the unpacked state and settings, and makes no secret of its own (scripts/lib/lab-state.ts).
    expect(JENKINSFILE).toMatch(/^\s*SWARMLAB_PIPELINE = '1'$/m);
    expect(JENKINSFILE).toMatch(/^\s*LAB_NODE1 = 'node1'$/m);
    expect(JENKINSFILE).toMatch(/^\s*LAB_DIR = "\$\{env\.JENKINS_HOME\}\/swarmlab-lab"$/m);
  });

  it('when every rule is applied, then the Jenkinsfile breaks none', () => {
    expect(checkJenkinsfile(JENKINSFILE, SCRIPTS)).toEqual([]);
  });

  it('when the build ends, then JUnit results are published, the workspace cleaned, and a failed deploy rolls back', () => {
    const post = child(pipeline(), 'post');
    const always = child(post, 'always')!;
    const deploy = child(pipeline(), 'stages')!.body!.find((stage) => stageName(stage) === 'deploy')!;
    const failure = child(child(deploy, 'post'), 'failure')!;

    expect(child(always, 'junit')!.args.some((token) => token.text === 'reports/junit.xml')).toBe(true);
    expect(child(always, 'cleanWs')).toBeDefined();
    // --after-failure: only what the failed deploy left changed (never the last good release).
    expect(shStepsIn(failure.tokens).map((step) => step.script)).toContain('npm run rollback -- --after-failure');
  });

  it('when the STRATEGY parameter is read, then it offers exactly the strategies deploy and the KPIs know, rolling first', () => {
    const choice = /choice\(name: 'STRATEGY', choices: \[([^\]]*)\]/.exec(JENKINSFILE);
    expect(choice, 'a choice parameter STRATEGY').not.toBeNull();
    const choices = [...choice![1]!.matchAll(/'([^']+)'/g)].map((match) => match[1]);
    expect(choices).toEqual([...STRATEGIES]);
    expect(STRATEGIES[0]).toBe('rolling');
    // deploy and rollback read LAB_DEPLOY_STRATEGY; the KPI records name the same.
    expect(JENKINSFILE).toMatch(/LAB_DEPLOY_STRATEGY = "\$\{params\.STRATEGY \?: 'rolling'\}"/);
    const records = [...JENKINSFILE.matchAll(/npm run kpi:record[^"]*/g)].map((match) => match[0]);
    expect(records.length).toBe(2);
    for (const record of records) expect(record).toContain('--strategy ${env.LAB_DEPLOY_STRATEGY}');
  });

  it('when it names credentials, then configuration-as-code defines them', () => {
    const ids = [...JENKINSFILE.matchAll(/credentialsId: '([^']+)'/g)].map((match) => match[1]);

    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(CASC).toContain(`id: ${id}`);
  });
});

describe('the Jenkinsfile rules (the checks can fail)', () => {
  const BROKEN = `
pipeline {
  agent any
  options { timeout(time: 10, unit: 'MINUTES'); disableConcurrentBuilds(); buildDiscarder(logRotator(numToKeepStr: '5')) }
  stages {
    stage('build') {
      steps {
        sh 'make'
      }
    }
    stage('checks') {
      parallel {
        stage('lint') {
          options { timeout(time: 5, unit: 'MINUTES') }
          steps { sh "npm run lint && rm -rf /" }
        }
        stage('fast') {
          steps { sh(script: 'npm run no-such-script', returnStatus: true) }
        }
      }
    }
  }
  post {
    always { junit 'reports/junit.xml'; cleanWs() }
    failure { sh 'npm run rollback' }
  }
}
`;

  it('when a stage has no timeout and an sh runs make, then both are refused', () => {
    const problems = checkJenkinsfile(BROKEN, SCRIPTS);

    expect(problems).toEqual(
      expect.arrayContaining([
        'stage "build" has no timeout',
        'stage "checks › fast" has no timeout',
        'line 8: sh "make" is not npm ci or npm run <script>',
        'line 15: sh "npm run lint && rm -rf /" is more than one command',
        'line 18: sh "npm run no-such-script": package.json has no script "no-such-script"',
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('when a section, the JUnit report, the clean-up or the rollback is missing, then each is named', () => {
    const problems = checkJenkinsfile(
      "pipeline {\n  stages {\n    stage('a') {\n      options { timeout(time: 1, unit: 'MINUTES') }\n      steps { sh 'npm ci' }\n    }\n  }\n}\n",
      SCRIPTS,
    );

    expect(problems).toEqual([
      'pipeline has no agent',
      'pipeline has no options',
      'pipeline has no post',
      'post { always } does not publish reports/junit.xml with junit',
      'post { always } does not cleanWs()',
      "no post { failure } runs sh 'npm run rollback'",
    ]);
  });

  it('when braces do not balance or a string is not closed, then it does not parse', () => {
    expect(checkJenkinsfile("pipeline {\n  stages {\n    stage('a') {\n  }\n", SCRIPTS)[0]).toMatch(/does not parse/);
    expect(checkJenkinsfile("pipeline {\n  agent any\n  sh 'npm ci\n}\n", SCRIPTS)[0]).toMatch(/unterminated string/);
  });

  it('when braces and quotes sit inside strings, GStrings and comments, then they do not confuse the reader', () => {
    const nodes = parseGroovy(
      'pipeline {\n  // a } in a comment\n  /* and { here */\n  stages { stage("x ${a ? \'}\' : "{"}") { steps { sh "npm ci" } } }\n}\n',
    );

    const names = [...walk(nodes)].map((node: Node) => node.name);
    expect(names).toEqual(['pipeline', 'stages', 'stage', 'steps', 'sh']);
  });

  it.each([
    ['npm ci', undefined],
    ['npm ci --no-audit --no-fund', undefined],
    ['npm run lint', undefined],
    ['npm run deploy -- --timeout 900', undefined],
    ['npm run deploy --timeout 900', 'arguments for the script go after --'],
    ['npm test', 'is not npm ci or npm run <script>'],
    ['npm run lint; make', 'is more than one command'],
    ['npm run lint | tee out', 'is more than one command'],
    ['npm run lint $(make)', 'is more than one command'],
    ['npm run nope', 'package.json has no script "nope"'],
  ])('when sh runs %j, then the verdict is %j', (script, problem) => {
    const verdict = shProblem(script, SCRIPTS);

    if (problem === undefined) expect(verdict).toBeUndefined();
    else expect(verdict).toContain(problem);
  });
});

describe('jenkins/casc.yaml', () => {
  type Casc = {
    jenkins: {
      numExecutors: number;
      securityRealm: { local: { allowsSignup: boolean; users: { id: string; password: string }[] } };
      authorizationStrategy: Record<string, { allowAnonymousRead?: boolean }>;
    };
    credentials: { system: { domainCredentials: { credentials: Record<string, Record<string, string>>[] }[] } };
    unclassified: { location: { url: string } };
    jobs: { file?: string; script?: string }[];
  };
  const casc = parse(CASC) as Casc;

  it('when parsed, then it configures security, executors, the URL and the jobs', () => {
    expect(casc.jenkins.securityRealm.local.allowsSignup).toBe(false);
    expect(casc.jenkins.authorizationStrategy).toEqual({ loggedInUsersCanDoAnything: { allowAnonymousRead: false } });
    expect(casc.jenkins.numExecutors).toBe(2);
    expect(casc.unclassified.location.url).toBe('https://jenkins.lab.localhost:8443/');
    expect(casc.jobs).toEqual([{ file: '/usr/share/jenkins/casc/jobs.groovy' }]);
  });

  it("when the admin's password is read, then it comes from the Docker secret, never a literal", () => {
    const [admin] = casc.jenkins.securityRealm.local.users;

    expect(admin).toMatchObject({ id: 'admin', password: '${readFile:/run/secrets/jenkins_admin_password}' });
    expect(CATALOGUE.jenkins_admin_password.services).toContain('jenkins');
  });

  it('when any password, key or certificate is set, then it is read from /run/secrets', () => {
    const secretKeys = /password|secret|key|certificate|bytes/i;
    const found: [string, unknown][] = [];
    const visit = (value: unknown, key = '') => {
      if (Array.isArray(value)) value.forEach((item) => visit(item, key));
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, k);
      else if (secretKeys.test(key) && typeof value === 'string') found.push([key, value]);
    };
    visit(casc);

    expect(found.length).toBeGreaterThanOrEqual(5);
    for (const [key, value] of found) {
      expect(value, key).toMatch(/^\$\{readFile(Base64)?:\/run\/secrets\/[a-z_]+\}$/);
    }
  });

  it('when the credentials are listed, then the Docker TLS API and the lab CA are there', () => {
    const credentials = casc.credentials.system.domainCredentials.flatMap((domain) => domain.credentials);
    const byId = Object.fromEntries(
      credentials.map((entry) => {
        const [kind, fields] = Object.entries(entry)[0]!;
        return [fields.id, { kind, ...fields }];
      }),
    );

    expect(byId['lab-docker-tls']).toMatchObject({
      kind: 'x509ClientCert',
      serverCaCertificate: '${readFile:/run/secrets/lab_ca_cert}',
    });
    expect(byId['lab-ca']).toMatchObject({ kind: 'file', secretBytes: '${readFileBase64:/run/secrets/lab_ca_cert}' });
    expect(CATALOGUE.lab_ca_cert.services).toContain('jenkins');
  });

  it('when yamllint reads it, then it passes the repository rules', async () => {
    const result = await $({
      quiet: true,
      nothrow: true,
      cwd: REPO_ROOT,
    })`yamllint --strict -f parsable -c .yamllint.yml jenkins/casc.yaml`;

    expect(result.stdout, result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

describe('jenkins/plugins.txt', () => {
  const lines = PLUGINS.split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const ids = lines.map((line) => line.split(':')[0]);

  it('when read, then every line pins an exact version (no latest, no ranges)', () => {
    for (const line of lines) expect(line).toMatch(/^[a-z0-9][a-z0-9_-]*:\d+(\.[0-9A-Za-z_-]+)+$/);
  });

  it('when read, then no plugin is listed twice', () => {
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('when read, then the plugins the configuration and the pipeline use are all there', () => {
    expect(ids).toEqual(
      expect.arrayContaining([
        'configuration-as-code',
        'job-dsl',
        'workflow-aggregator',
        'git',
        'junit',
        'coverage',
        'ws-cleanup',
      ]),
    );
    // x509ClientCert credentials and the dockerCert binding.
    expect(ids).toContain('docker-commons');
  });
});

describe('jenkins/jobs.groovy', () => {
  it('when read, then it defines the swarmlab pipeline job from the Jenkinsfile in git, polling as a fallback', () => {
    const nodes = parseGroovy(JOBS);
    const job = nodes.find((node) => node.name === 'pipelineJob')!;
    const cpsScm = child(child(job, 'definition'), 'cpsScm');

    expect(stageName(job)).toBe('swarmlab');
    expect(child(cpsScm, 'scriptPath')!.args[0]!.text).toBe('Jenkinsfile');
    expect(child(child(cpsScm, 'scm'), 'git')).toBeDefined();
    expect(JOBS).toContain("scmpoll_spec('H/5 * * * *')");
    expect(JOBS).toContain("System.getenv('SWARMLAB_GIT_URL')");
  });

  it('when read, then it has no ${...} that configuration-as-code would try to resolve', () => {
    expect(JOBS).not.toContain('${');
  });
});

describe('jenkins/Dockerfile', () => {
  const froms = [...DOCKERFILE.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]!);

  it('when built, then it starts from the official Jenkins LTS image pinned to an exact version', () => {
    expect(froms.at(-1)).toMatch(/^jenkins\/jenkins:\d+\.\d+\.\d+-lts-jdk\d+$/);
    for (const from of froms) expect(from).not.toMatch(/:latest$|:lts(-jdk\d+)?$|^[^:]+$/);
  });

  it('when built, then it adds the Docker CLI, Node 24 and the pinned plugins', () => {
    expect(DOCKERFILE).toMatch(/apt-get install -y --no-install-recommends (docker\.io|docker-cli)/);
    expect(froms).toContain('node:24-bookworm-slim');
    expect(DOCKERFILE).toMatch(/jenkins-plugin-cli --plugin-file \/usr\/share\/jenkins\/ref\/plugins\.txt/);
  });

  it('when started, then there is no setup wizard and configuration-as-code reads the file the image holds', () => {
    const config = /CASC_JENKINS_CONFIG=(\S+)/.exec(DOCKERFILE)?.[1];

    expect(DOCKERFILE).toContain('-Djenkins.install.runSetupWizard=false');
    expect(config).toBe('/usr/share/jenkins/casc/casc.yaml');
    expect(DOCKERFILE).toMatch(/^COPY --chown=jenkins:jenkins casc\.yaml jobs\.groovy \/usr\/share\/jenkins\/casc\/$/m);
  });
});

describe('the repository Jenkins builds, as the docker driver gives it to node1', () => {
  const withDir = async (make: (dir: string) => Promise<void>, check: (dir: string) => Promise<void>) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-gitdir-'));
    try {
      await make(dir);
      await check(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('when the checkout has a .git folder, then node1 mounts that folder (not the working tree and its .lab)', async () => {
    await withDir(
      async (dir) => {
        await mkdir(path.join(dir, 'repo/.git/refs'), { recursive: true });
      },
      async (dir) => expect(await repositoryGitDir(path.join(dir, 'repo'))).toBe(path.join(dir, 'repo/.git')),
    );
  });

  it("when the checkout is a linked worktree, then node1 mounts the main repository's git folder (shared branches)", async () => {
    await withDir(
      async (dir) => {
        await mkdir(path.join(dir, 'main/.git/worktrees/wt'), { recursive: true });
        await writeFile(path.join(dir, 'main/.git/worktrees/wt/commondir'), '../..\n');
        await mkdir(path.join(dir, 'wt'));
        await writeFile(path.join(dir, 'wt/.git'), `gitdir: ${path.join(dir, 'main/.git/worktrees/wt')}\n`);
      },
      async (dir) => expect(await repositoryGitDir(path.join(dir, 'wt'))).toBe(path.join(dir, 'main/.git')),
    );
  });

  it('when the folder is no git checkout, then nothing is mounted (node1 makes an empty repository)', async () => {
    await withDir(
      async () => {},
      async (dir) => expect(await repositoryGitDir(dir)).toBeUndefined(),
    );
  });

  it('when the image is built, then git trusts the mounted repository, whoever owns it on node1', () => {
    expect(DOCKERFILE).toContain(`git config --system --add safe.directory ${GIT_REPOSITORY_IN_NODE}`);
    expect(DOCKERFILE).toContain(`git config --system --add safe.directory ${GIT_REPOSITORY_IN_NODE}/.git`);
  });
});
