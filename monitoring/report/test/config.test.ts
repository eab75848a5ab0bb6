// The configuration: defaults that fit the lab, and every bad variable named at once.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('config', () => {
  it('when nothing is set, then the lab defaults apply: Prometheus, the mail sink, ops@ and /var/lib/reports', () => {
    const config = loadConfig({});

    expect(config.prometheus).toEqual({ url: 'http://prometheus:9090', timeoutMs: 30_000 });
    expect(config.smtp).toEqual({ host: 'mailsink', port: 1025, labSink: false });
    expect(config.mail).toEqual({ from: 'report@lab.localhost', to: ['ops@lab.localhost'] });
    expect(config.reports.dir).toBe('/var/lib/reports');
    expect(config.http.port).toBe(8080);
  });

  it('when variables are set, then they are parsed: a list of recipients, a boolean, a URL without its trailing slash', () => {
    const config = loadConfig({
      PROMETHEUS_URL: 'http://prometheus:9090/',
      SMTP_LAB_SINK: 'true',
      SMTP_PORT: '2525',
      REPORT_TO: 'ops@lab.localhost, database@lab.localhost',
      PORT: '',
    });

    expect(config.prometheus.url).toBe('http://prometheus:9090');
    expect(config.smtp).toEqual({ host: 'mailsink', port: 2525, labSink: true });
    expect(config.mail.to).toEqual(['ops@lab.localhost', 'database@lab.localhost']);
    expect(config.http.port).toBe(8080);
  });

  it('when variables are wrong, then one error names each of them', () => {
    const attempt = () =>
      loadConfig({ PROMETHEUS_URL: 'prometheus:9090', SMTP_PORT: '70000', REPORT_TO: 'ops', SMTP_LAB_SINK: 'maybe' });

    expect(attempt).toThrow(ConfigError);
    const problems = (() => {
      try {
        attempt();
      } catch (error) {
        return (error as ConfigError).problems.map((problem) => problem.split(':')[0]);
      }
    })();
    expect(problems?.sort()).toEqual(['PROMETHEUS_URL', 'REPORT_TO', 'SMTP_LAB_SINK', 'SMTP_PORT']);
  });
});
