// Every command of the runbooks (docs/runbooks/*.md) is one the operator can run against the lab: npm scripts that
// exist, with flags their own --help names (asked of the scripts themselves), Docker commands through the lab's
// context (docker --context swarmlab), and nothing else than a few reads. Rules: scripts/lib/runbook-commands.ts.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lib/paths.js';
import {
  checkCommands,
  codeBlocks,
  extractCommands,
  formatFinding,
  packageScripts,
  runbookCommands,
  scriptHelp,
  type CheckContext,
  type RunbookCommand,
} from '../lib/runbook-commands.js';

const scripts = packageScripts();
let labDir: string;
let context: CheckContext;
let byFile: Map<string, RunbookCommand[]>;

beforeAll(async () => {
  // The scripts' --help exits before it looks for a lab; this makes sure none is reached if one ever does not.
  labDir = await mkdtemp(path.join(tmpdir(), 'swarmlab-runbooks-'));
  context = {
    scripts,
    help: scriptHelp(scripts, { ...process.env, LAB_DIR: labDir, DOCKER_HOST: 'tcp://127.0.0.1:1' }),
  };
  byFile = await runbookCommands();
});

afterAll(async () => {
  await rm(labDir, { recursive: true, force: true });
});

const all = () => [...byFile.values()].flat();

describe('the runbooks', () => {
  it('when the runbooks are read, then each gives its commands in sh blocks', () => {
    expect(byFile.size).toBeGreaterThanOrEqual(26);
    for (const [file, commands] of byFile) expect(commands.length, `${file}: no command`).toBeGreaterThan(0);
    expect(all().length).toBeGreaterThan(100);
  });

  it('when their code blocks are listed, then each names its language (commands in sh, so they are checked)', async () => {
    const unnamed: string[] = [];
    for (const file of byFile.keys()) {
      const markdown = await readFile(path.join(REPO_ROOT, file), 'utf8');
      for (const block of codeBlocks(markdown, file)) if (!block.language) unnamed.push(`${file}:${block.line}`);
    }
    expect(unnamed).toEqual([]);
  });

  it('when every command is checked, then each is an npm script with its own flags, a docker command to the lab, or an allowed read', async () => {
    const findings = await checkCommands(all(), context);
    expect(findings.map(formatFinding).join('\n')).toBe('');
  }, 180_000);

  it('when the commands are classified, then the usual reads are read-only and nothing that changes the lab is', () => {
    const readOnly = all().filter((command) => command.readOnly);
    const texts = readOnly.map((command) => command.text);
    expect(texts).toContain('npm run db:status');
    expect(texts).toContain('docker --context swarmlab service ps swarmlab_api --no-trunc');
    for (const command of readOnly) {
      expect(command.text, `${command.file}:${command.line}`).not.toMatch(
        /\b(rollback|deploy|update|scale|prune|db:(switchover|failover|reinit)|backup( |$)|backup:verify|lab:up)\b/,
      );
      expect(command.placeholders, `${command.file}:${command.line}`).toEqual([]);
    }
    expect(readOnly.length).toBeGreaterThan(30);
  });
});

describe('the checker', () => {
  it('when a runbook has a command without the context, an unknown script and an unknown flag, then it reports all three', async () => {
    const markdown = [
      '# Made up',
      '',
      '```sh',
      'docker service ps x',
      'npm run no-such-script',
      'npm run rollback -- --no-such-flag',
      '# a comment, then commands that are fine',
      'docker --context swarmlab service ps swarmlab_api',
      'npm run rollback -- --service api',
      '```',
    ].join('\n');
    const findings = await checkCommands(extractCommands(markdown, 'made-up.md'), context);
    expect(findings.map((finding) => [finding.line, finding.command])).toEqual([
      [4, 'docker service ps x'],
      [5, 'npm run no-such-script'],
      [6, 'npm run rollback -- --no-such-flag'],
    ]);
    expect(findings.map((finding) => finding.problem).join('\n')).toMatch(
      /--context swarmlab[\s\S]*no script[\s\S]*--no-such-flag/,
    );
  }, 120_000);

  it('when a runbook rolls back or removes with docker, or runs an unknown tool, then each is refused', async () => {
    const markdown = [
      '```bash',
      'docker --context swarmlab service rollback swarmlab_api',
      'docker --context swarmlab stack rm swarmlab',
      'docker exec swarmlab-node2 docker service rm swarmlab_api',
      'docker exec some-container sh',
      'docker exec swarmlab-node2 docker exec <container> rm -rf /var/lib/postgresql/data',
      'curl --silent --cacert .lab/ca/ca.crt https://api.lab.localhost:8443/readyz | xargs echo',
      'curl --silent https://example.com/',
      'kubectl get pods',
      '```',
    ].join('\n');
    const findings = await checkCommands(extractCommands(markdown, 'made-up.md'), context);
    expect(findings.map((finding) => finding.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 8, 9]);
    expect(findings[0]!.problem).toContain('npm run rollback');
  });

  it('when a block has continuations, comments, quotes, pipelines and $(...), then each command is read whole', () => {
    const markdown = [
      'Text with `docker service ps inline` is not a command.',
      '',
      '- A step:',
      '',
      '  ```shell',
      '  # a comment',
      '',
      '  curl --silent --get --cacert .lab/ca/ca.crt --user "admin:$(cat .lab/secrets/ops_basic_auth.password)" \\',
      '    https://prometheus.lab.localhost:8443/api/v1/query --data-urlencode \'query=up{job="etcd"}\' \\',
      "    | jq '.data.result[] | .value[1]'",
      '  docker exec swarmlab-node2 docker exec <container> psql -c "SELECT \'a|b\'" 2>/dev/null',
      '  openssl s_client -connect 127.0.0.1:8443 </dev/null | openssl x509 -noout -enddate',
      '  ```',
      '',
      '```promql',
      'up == 0',
      '```',
    ].join('\n');
    const commands = extractCommands(markdown, 'made-up.md');
    expect(commands.map((command) => command.line)).toEqual([8, 11, 12]);
    const [curl, psql, openssl] = commands as [RunbookCommand, RunbookCommand, RunbookCommand];
    expect(curl.simple.map((words) => words[0])).toEqual(['curl', 'jq', 'cat']);
    expect(curl.simple[0]).toContain('query=up{job="etcd"}');
    expect(curl.readOnly).toBe(true);
    expect(psql.simple).toEqual([
      ['docker', 'exec', 'swarmlab-node2', 'docker', 'exec', '<container>', 'psql', '-c', "SELECT 'a|b'"],
    ]);
    expect(psql.placeholders).toEqual(['<container>']);
    expect(psql.readOnly).toBe(false);
    expect(openssl.simple.map((words) => words[0])).toEqual(['openssl', 'openssl']);
    expect(openssl.readOnly).toBe(true);
  });

  it('when commands are classified, then reads are read-only and changes, follows and placeholders are not', () => {
    const classify = (line: string) => extractCommands(`\`\`\`sh\n${line}\n\`\`\``)[0]!.readOnly;
    expect(classify('docker --context swarmlab service logs --since 10m swarmlab_api')).toBe(true);
    expect(classify('docker --context swarmlab node ls')).toBe(true);
    expect(classify('docker exec swarmlab-node2 docker stats --no-stream')).toBe(true);
    expect(classify('npm run backup:list')).toBe(true);
    expect(classify('npm run kpi -- --since 7d')).toBe(true);
    expect(classify('docker --context swarmlab service logs --follow swarmlab_api')).toBe(false);
    expect(classify('docker --context swarmlab service update --force swarmlab_api')).toBe(false);
    expect(classify('docker --context swarmlab service ps swarmlab_<service>')).toBe(false);
    expect(classify('npm run rollback')).toBe(false);
    expect(classify('curl --cacert .lab/ca/ca.crt -X POST https://api.lab.localhost:8443/v1/items')).toBe(false);
  });
});
