// Tools that tests and commands run from Debian packages: found on PATH, else installed when we can (root with
// apt), else a stop with the exact command to run. Never a silent skip.
import { existsSync } from 'node:fs';
import { $, which } from 'zx';

const APT_LOCK = '/run/lock/swarmlab-apt.lock';

/**
 * What `npm test` runs from Debian besides PostgreSQL (scripts/lib/pg-cluster.ts installs that), docs:build and the
 * screenshots included: installed once before the run (scripts/test/tools-setup.ts), so the README's
 * `npm ci && npm test` passes on a bare Debian machine.
 */
export const TEST_TOOLS: Record<string, string> = {
  shellcheck: 'shellcheck',
  yamllint: 'yamllint',
  openssl: 'openssl',
  curl: 'curl',
  jq: 'jq', // backup/backup-job, run for real by backup-job.test.ts
  patroni: 'patroni',
  etcd: 'etcd-server',
  haproxy: 'haproxy',
  pgbackrest: 'pgbackrest',
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'prometheus-pushgateway': 'prometheus-pushgateway',
  dot: 'graphviz',
  chromium: 'chromium',
  pdftotext: 'poppler-utils',
};

const missingOf = async (tools: Record<string, string>) => {
  const absent: string[] = [];
  for (const tool of Object.keys(tools)) if (!(await which(tool, { nothrow: true }))) absent.push(tool);
  return absent;
};

/** Makes sure every tool (command name → Debian package) is on PATH. */
export async function requireDebianTools(tools: Record<string, string>): Promise<void> {
  let missing = await missingOf(tools);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((tool) => tools[tool]!))];
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error(`${missing.join(', ')} not found; installing: ${command}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    // Test files install in parallel: one apt at a time (flock), each waiting for dpkg's lock rather than failing.
    const apt = ['flock', APT_LOCK, 'apt-get', '-o', 'DPkg::Lock::Timeout=600'];
    await $({ quiet: true, nothrow: true })`${apt} update`;
    await $({ quiet: true, nothrow: true, env })`${apt} install -y --no-install-recommends ${packages}`;
    missing = await missingOf(tools);
  }
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not found. Install with: ${command}`);
}
