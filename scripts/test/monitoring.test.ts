// Prometheus and Alertmanager configuration, checked by their own tools (Debian's promtool and amtool as child
// processes): the scrape config, every rule file, every alert's promtool unit tests (one firing and one silent case
// at least), every alert's labels, annotations and runbook, Alertmanager's config and its routing. See
// docs/monitoring.md.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { $ } from 'zx';
import { beforeAll, describe, expect, it } from 'vitest';
import { alertmanagerDeployment } from '../lib/alertmanager-config.js';
import { REPO_ROOT } from '../lib/paths.js';
import { requireDebianTools } from '../lib/debian-tools.js';

const q = $({ quiet: true, cwd: REPO_ROOT, nothrow: true });
const PROMETHEUS = path.join(REPO_ROOT, 'monitoring/prometheus');
const RULES = path.join(PROMETHEUS, 'rules');
const TESTS = path.join(PROMETHEUS, 'tests');
const ALERTMANAGER = path.join(REPO_ROOT, 'monitoring/alertmanager/alertmanager.yml');
const RUNBOOK_PREFIX = 'https://github.com/swarmlab/swarmlab/blob/main/docs/runbooks/';
const SEVERITIES = ['critical', 'warning', 'info'];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTestCase {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[];
}
interface TestFile {
  rule_files: string[];
  tests: { alert_rule_test?: AlertTestCase[] }[];
}

const ruleFiles = readdirSync(RULES)
  .filter((name) => name.endsWith('.yml'))
  .sort();
const testFiles = readdirSync(TESTS)
  .filter((name) => name.endsWith('_test.yml'))
  .sort();
const alerts = ruleFiles.flatMap((file) => {
  const doc = parse(readFileSync(path.join(RULES, file), 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((group) => group.rules.filter((rule) => rule.alert).map((rule) => ({ file, rule })));
});

const requireTools = () => requireDebianTools({ promtool: 'prometheus', amtool: 'prometheus-alertmanager' });

beforeAll(requireTools, 300_000);

describe('Prometheus', () => {
  it('prometheus.yml passes promtool check config (rule files resolved next to it)', async () => {
    const result = await q`promtool check config ${path.join(PROMETHEUS, 'prometheus.yml')}`;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    // The rule_files glob found every rule file.
    for (const file of ruleFiles) expect(result.stdout).toContain(`rules/${file}`);
  });

  it('every rule file passes promtool check rules', async () => {
    expect(ruleFiles.length).toBeGreaterThanOrEqual(7);
    const result = await q`promtool check rules ${ruleFiles.map((file) => path.join(RULES, file))}`;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  });

  it('every rule file has its test file, and every test file passes promtool test rules', async () => {
    expect(testFiles).toEqual(ruleFiles.map((file) => file.replace(/\.yml$/, '_test.yml')));
    const result = await $({ quiet: true, nothrow: true, cwd: TESTS })`promtool test rules ${testFiles}`;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
  }, 120_000);

  it('every alert has a test case where it fires and one where it stays silent', () => {
    const cases = testFiles.flatMap((file) => {
      const doc = parse(readFileSync(path.join(TESTS, file), 'utf8')) as TestFile;
      return doc.tests.flatMap((test) => test.alert_rule_test ?? []);
    });
    expect(alerts.length).toBeGreaterThanOrEqual(26);
    for (const { rule } of alerts) {
      const own = cases.filter((testCase) => testCase.alertname === rule.alert);
      expect(
        own.some((testCase) => (testCase.exp_alerts ?? []).length > 0),
        `${rule.alert}: no case fires it`,
      ).toBe(true);
      expect(
        own.some((testCase) => (testCase.exp_alerts ?? []).length === 0),
        `${rule.alert}: no silent case`,
      ).toBe(true);
    }
  });

  it('every alert has a severity, a summary, a description and a runbook that exists', () => {
    const names = alerts.map(({ rule }) => rule.alert);
    expect(new Set(names).size, 'alert names are unique').toBe(names.length);
    for (const { file, rule } of alerts) {
      const where = `${file}: ${rule.alert}`;
      expect(SEVERITIES, where).toContain(rule.labels?.severity);
      expect(rule.labels?.service, where).toBeTruthy();
      expect(rule.annotations?.summary, where).toBeTruthy();
      expect(rule.annotations?.description, where).toBeTruthy();
      expect(rule.annotations?.runbook_url, where).toBe(`${RUNBOOK_PREFIX}${rule.alert}.md`);
      expect(existsSync(path.join(REPO_ROOT, 'docs/runbooks', `${rule.alert}.md`)), `${where}: runbook`).toBe(true);
    }
  });

  it('the checks can fail: promtool refuses a broken rule file and a wrong unit test', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'swarmlab-monitoring-'));
    try {
      const bad = path.join(dir, 'bad.yml');
      await writeFile(
        bad,
        'groups:\n  - name: bad\n    rules:\n      - alert: Broken\n        expr: sum(up{job="api"}\n',
      );
      expect((await q`promtool check rules ${bad}`).exitCode).not.toBe(0);

      // A real rule file, and a test expecting ApiDown while one replica still answers.
      await writeFile(
        path.join(dir, 'wrong_test.yml'),
        [
          `rule_files: [${JSON.stringify(path.join(RULES, 'api.yml'))}]`,
          'tests:',
          '  - interval: 1m',
          '    input_series:',
          '      - { series: \'up{job="api", instance="a"}\', values: \'1x10\' }',
          '    alert_rule_test:',
          '      - eval_time: 5m',
          '        alertname: ApiDown',
          '        exp_alerts: [{ exp_labels: { severity: critical, service: api } }]',
          '',
        ].join('\n'),
      );
      expect((await $({ quiet: true, nothrow: true, cwd: dir })`promtool test rules wrong_test.yml`).exitCode).not.toBe(
        0,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Alertmanager', () => {
  it('alertmanager.yml passes amtool check-config (templates included)', async () => {
    const result = await q`amtool check-config ${ALERTMANAGER}`;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/[1-9]\d* templates/);
  });

  it.each([
    ['severity=critical service=postgres alertname=PostgresDown', 'remediator,critical-database'],
    ['severity=critical service=api alertname=ApiDown', 'remediator,critical-ops'],
    ['severity=warning service=api alertname=ApiHighLatencyP95', 'remediator,email-ops'],
    ['severity=warning service=backup alertname=BackupTooOld', 'remediator,email-database'],
    ['severity=warning service=traefik alertname=TargetDown', 'email-ops'],
    ['severity=info service=api alertname=Anything', 'remediator,blackhole'],
  ])('routes {%s} to %s', async (labels, receivers) => {
    const result = await q`amtool config routes test --config.file=${ALERTMANAGER} ${labels.split(' ')}`;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(receivers);
  });

  it('when no Slack URL is set, then the deployed configuration has no Slack entry, still routes, and passes amtool', async () => {
    const lab = await mkdtemp(path.join(tmpdir(), 'swarmlab-am-'));
    try {
      const off = alertmanagerDeployment(lab);
      expect(off.slack).toBe(false);
      const slackReceivers = (text: string) =>
        (parse(text, { merge: true }) as { receivers: { name: string; slack_configs?: unknown }[] }).receivers
          .filter((receiver) => receiver.slack_configs)
          .map((receiver) => receiver.name);
      expect(slackReceivers(off.configText)).toEqual([]);
      expect(slackReceivers(readFileSync(ALERTMANAGER, 'utf8'))).toEqual(['critical-ops', 'critical-database']);
      // Next to the repository's file, so that its templates/ resolve the same way.
      const trimmed = path.join(path.dirname(ALERTMANAGER), `.trimmed-${process.pid}.yml`);
      await writeFile(trimmed, off.configText);
      try {
        const check = await q`amtool check-config ${trimmed}`;
        expect(check.exitCode, check.stdout + check.stderr).toBe(0);
        const route =
          await q`amtool config routes test --config.file=${trimmed} severity=critical service=api alertname=ApiDown`;
        expect(route.stdout.trim()).toBe('remediator,critical-ops');
      } finally {
        await rm(trimmed, { force: true });
      }

      await mkdir(path.join(lab, 'secrets'), { recursive: true });
      await writeFile(path.join(lab, 'secrets/slack_webhook_url'), 'https://hooks.slack.example/services/T0/B0/x\n');
      const on = alertmanagerDeployment(lab);
      expect(on.slack).toBe(true);
      expect(on.configText).toBe(readFileSync(ALERTMANAGER, 'utf8'));
      expect(on.slackSecret).toBe('https://hooks.slack.example/services/T0/B0/x');
      expect([on.configHash, on.slackHash]).not.toEqual([off.configHash, off.slackHash]);

      await writeFile(path.join(lab, 'secrets/slack_webhook_url'), 'not a url');
      expect(() => alertmanagerDeployment(lab)).toThrow(/must hold one https:\/\/ URL/);
    } finally {
      await rm(lab, { recursive: true, force: true });
    }
  });

  it('every receiver a route names exists, and NodeDown inhibits by node', () => {
    const config = parse(readFileSync(ALERTMANAGER, 'utf8')) as {
      route: Route;
      receivers: { name: string }[];
      inhibit_rules: { source_matchers: string[]; equal?: string[] }[];
    };
    interface Route {
      receiver?: string;
      routes?: Route[];
    }
    const names = new Set(config.receivers.map((receiver) => receiver.name));
    const walk = (route: Route): string[] => [
      ...(route.receiver ? [route.receiver] : []),
      ...(route.routes ?? []).flatMap(walk),
    ];
    for (const receiver of walk(config.route)) expect(names, receiver).toContain(receiver);
    const nodeDown = config.inhibit_rules.find((rule) => rule.source_matchers.includes('alertname="NodeDown"'));
    expect(nodeDown?.equal).toEqual(['node']);
  });
});
