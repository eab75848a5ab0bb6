// `npm run test:vagrant`: the Vagrant node driver for real (not in CI: slow under emulation). Brings up the three
// VMs with vagrant-libvirt, checks the swarm through node1's TLS API (3 nodes Ready, their labels, the registry),
// deploys the stack and sends a request through the edge, then destroys the VMs. Bounded in time; every phase timed.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { freemem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { $, which, type ProcessPromise } from 'zx';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { CommandError, formatMs, lastLine, requireDocker, run, runWithProgress } from './lib/docker.js';
import { HTTP_PORT, HTTPS_PORT, labUrl, MANAGER_API, REGISTRY_PUSH } from './lib/lab-context.js';
import { LabClient } from './lib/lab-https.js';
import { nodeTlsPaths } from './lib/lab-node-tls.js';
import { labPaths } from './lib/lab-secrets.js';
import { basicAuthorization, registryCredentials } from './lib/registry-auth.js';
import { step, summary } from './lib/log.js';
import { REPO_ROOT } from './lib/paths.js';

const BOX = 'debian/bookworm64';
const NODES = ['node1', 'node2', 'node3'] as const;
const FORWARDED_PORTS = [2376, 5000, HTTPS_PORT, HTTP_PORT];
const LOG_DIR = path.join(REPO_ROOT, 'reports', 'vagrant');
const INSTALL = 'apt-get install -y vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils rsync';
const START_LIBVIRTD = 'systemctl start libvirtd   (without systemd, as root: virtlogd -d && libvirtd -d)';
const DESTROY_TIMEOUT_MS = 10 * 60_000;

const HELP = `
Usage: npm run test:vagrant [-- --no-deploy] [--keep] [--timeout <minutes>] [--driver kvm|qemu] [--edge traefik|haproxy]

The Vagrant node driver for real, with vagrant-libvirt (not part of CI: slow under software emulation):
  1. prerequisites   vagrant, the vagrant-libvirt plugin, rsync, qemu, libvirtd answering, the docker CLI, memory
                     for 3 VMs, 127.0.0.1:${FORWARDED_PORTS.join(', :')} free (a docker-driver lab holds them: npm run lab:down)
  2. box             ${BOX} for libvirt, added from Vagrant Cloud when missing
  3. vagrant up      --provider libvirt: node1, node2, node3 provisioned by lab/provision/provision.sh
  4. swarm           through node1's Docker API (${MANAGER_API}, mutual TLS, certificates in .lab/docker):
                     3 nodes Ready, node1 the leader, every node's labels; the registry at ${REGISTRY_PUSH} (TLS, its user)
  5. deploy          npm run deploy, then GET ${labUrl('api')}/readyz through the VM's forwarded port
  6. destroy         vagrant destroy -f (also after a failure), unless --keep
Ends with a summary of each phase's time and result. Full logs: reports/vagrant/<phase>.log.

Options:
  --no-deploy        stop after the swarm checks (phases 5 skipped); --deploy (the default) keeps it
  --keep             leave the VMs running at the end (vagrant destroy -f removes them later)
  --timeout <min>    the whole run's time budget, destroy excepted (default 60)
  --driver kvm|qemu  libvirt's domain type (default: LAB_LIBVIRT_DRIVER, else qemu). qemu is software emulation:
                     slow, but it works where KVM is missing or its guests hang; kvm is much faster where it works
  --edge <name>      passed to npm run deploy (traefik, or haproxy where Traefik's image cannot be pulled)
  -h, --help         show this help

Environment: LAB_MEMORY (MB per VM, default 2048), LAB_CPUS (default 2), LAB_LIBVIRT_DRIVER, LAB_EDGE, LAB_DIR.
`;

interface Phase {
  name: string;
  ms: number;
  result: string;
}

/** The run's time budget: each long command gets what is left of it. */
class Budget {
  private readonly deadline: number;

  constructor(private readonly minutes: number) {
    this.deadline = performance.now() + minutes * 60_000;
  }

  /** Milliseconds left; stops when none are left before `what`. */
  left(what: string): number {
    const ms = Math.floor(this.deadline - performance.now());
    if (ms <= 0) throw new StopError(`The time budget (--timeout ${this.minutes} min) ran out before ${what}.`);
    return ms;
  }
}

const phases: Phase[] = [];

/** Runs a phase as a step and records its time and one-line result (or its failure). */
async function phase(name: string, fn: () => Promise<string>): Promise<void> {
  const started = performance.now();
  try {
    const result = await step(name, fn);
    phases.push({ name, ms: performance.now() - started, result });
  } catch (error) {
    phases.push({ name, ms: performance.now() - started, result: `FAILED: ${firstLine(error)}` });
    throw error;
  }
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const logFile = (name: string) => path.join(LOG_DIR, `${name}.log`);

/** Vagrant in the repository (its Vagrantfile), with the test's settings in the environment. */
function vagrant(driver: string) {
  return $({ quiet: true, cwd: REPO_ROOT, env: { ...process.env, LAB_LIBVIRT_DRIVER: driver } });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function has(command: string) {
  return (await which(command, { nothrow: true })) !== null;
}

/** Every missing prerequisite at once, each with the command that fixes it. */
async function prerequisites(driver: string, deploy: boolean): Promise<string> {
  const problems: string[] = [];
  const missing = [];
  for (const command of ['vagrant', 'rsync', 'virsh', 'qemu-system-x86_64', 'qemu-img']) {
    if (!(await has(command))) missing.push(command);
  }
  let plugin = '';
  if (!missing.includes('vagrant')) {
    const plugins = await $({ quiet: true })`vagrant plugin list`.nothrow().timeout('60s');
    plugin = plugins.stdout.match(/^vagrant-libvirt \(([^,)]+)/m)?.[1] ?? '';
    if (!plugin) missing.push('the vagrant-libvirt plugin');
  }
  if (missing.length > 0) problems.push(`missing: ${missing.join(', ')}. Install (Debian, as root):\n    ${INSTALL}`);
  if (!missing.includes('virsh')) {
    const libvirt = await $({ quiet: true })`virsh -c qemu:///system version`.nothrow().timeout('20s');
    if (libvirt.exitCode !== 0) {
      problems.push(
        `libvirtd does not answer (${lastLine(libvirt.stderr) || 'timed out'}). Start it:\n    ${START_LIBVIRTD}`,
      );
    }
  }
  if (driver === 'kvm' && !existsSync('/dev/kvm')) {
    problems.push('--driver kvm, but /dev/kvm is missing: use --driver qemu (software emulation).');
  }
  if (!(await has('docker'))) problems.push('missing: the docker CLI. Install (Debian): apt-get install -y docker.io');
  if (process.env.DOCKER_HOST) {
    problems.push(`DOCKER_HOST is set (${process.env.DOCKER_HOST}): deploy would go there, not to the VMs. Unset it.`);
  }
  const memoryMb = Number(process.env.LAB_MEMORY || 2048);
  if (!Number.isInteger(memoryMb) || memoryMb < 512)
    throw new StopError('LAB_MEMORY must be a whole number >= 512 (MB).');
  // A lab of this Vagrantfile kept running (--keep) holds the ports and the memory itself: vagrant up reuses it.
  const kept = !missing.includes('vagrant') && (await vagrantLabRunning(driver));
  const freeMb = Math.floor(freemem() / 2 ** 20);
  if (!kept && freeMb < NODES.length * memoryMb) {
    problems.push(
      `${NODES.length} VMs of ${memoryMb} MB need more than the ${freeMb} MB free here: set LAB_MEMORY lower.`,
    );
  }
  const taken = [];
  for (const port of FORWARDED_PORTS) if (!(await portFree(port))) taken.push(port);
  if (!kept && taken.length > 0) {
    problems.push(
      `127.0.0.1:${taken.join(', :')} taken: node1's forwards need them. A lab from npm run lab:up? Stop it: ` +
        'npm run lab:down',
    );
  }
  if (deploy && problems.length === 0) await requireDocker(); // deploy builds the images on this host's engine
  if (problems.length > 0) {
    const count = problems.length === 1 ? '1 prerequisite' : `${problems.length} prerequisites`;
    throw new StopError(`${count} missing:\n  - ${problems.join('\n  - ')}`);
  }
  const vms = kept ? 'VMs already running (kept)' : `${freeMb} MB free`;
  return `vagrant-libvirt ${plugin}, driver ${driver}, ${memoryMb} MB × ${NODES.length}, ${vms}`;
}

/** Machine states from `vagrant status`: name → state (running, shutoff, not_created, ...). */
async function vagrantStates(driver: string): Promise<Map<string, string>> {
  const status = await vagrant(driver)`vagrant status --machine-readable`.nothrow().timeout('120s');
  const states = new Map<string, string>();
  for (const line of status.stdout.split('\n')) {
    const [, target, type, data] = line.split(',');
    if (target && type === 'state' && data) states.set(target, data);
  }
  return states;
}

async function vagrantLabRunning(driver: string) {
  return (await vagrantStates(driver)).get('node1') === 'running';
}

async function ensureBox(budget: Budget): Promise<string> {
  const boxes = await run($({ quiet: true })`vagrant box list`.timeout('60s'));
  const line = boxes.stdout.split('\n').find((entry) => entry.startsWith(`${BOX} `) && entry.includes('libvirt'));
  if (line) return `present: ${line.trim()}`;
  try {
    await runWithProgress(
      'vagrant box add',
      $({ quiet: true })`vagrant box add ${BOX} --provider libvirt`.timeout(budget.left('box add'), 'SIGINT'),
      logFile('box'),
    );
  } catch (error) {
    const cause = error instanceof CommandError ? lastLine(error.output) : firstLine(error);
    throw new StopError(
      `${BOX} (libvirt) is not here and could not be added from Vagrant Cloud: ${cause}\n` +
        `  full log: ${path.relative(process.cwd(), logFile('box'))}\n` +
        `  Without internet: copy the box file here and run vagrant box add --name ${BOX} <file.box>`,
    );
  }
  return `added from Vagrant Cloud`;
}

async function vagrantUp(driver: string, budget: Budget): Promise<string> {
  const up = vagrant(driver)`vagrant up --provider libvirt`.timeout(budget.left('vagrant up'), 'SIGINT');
  await runWithProgress('vagrant up', up, logFile('up'));
  const states = await vagrantStates(driver);
  const notRunning = NODES.filter((node) => states.get(node) !== 'running');
  if (notRunning.length > 0) throw new StopError(`vagrant up ended, but ${notRunning.join(', ')} not running.`);
  return `${NODES.join(', ')} running (log: ${path.relative(process.cwd(), logFile('up'))})`;
}

/** `docker --tlsverify -H <node1's API>` with the host's client certificate (DOCKER_CERT_PATH=.lab/docker). */
function managerDocker(args: string[]) {
  const env = { ...process.env, DOCKER_CERT_PATH: nodeTlsPaths().dockerCertPath };
  return run($({ quiet: true, env })`docker --tlsverify -H ${MANAGER_API} ${args}`.timeout('30s'));
}

interface NodeRow {
  hostname: string;
  status: string;
  manager: string;
  labels: Record<string, string>;
}

interface NodeInspect {
  Description?: { Hostname?: string };
  Status?: { State?: string };
  ManagerStatus?: { Leader?: boolean };
  Spec?: { Labels?: Record<string, string> | null };
}

async function swarmNodes(): Promise<NodeRow[]> {
  const ids = (await managerDocker(['node', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const nodes = JSON.parse((await managerDocker(['node', 'inspect', ...ids])).stdout) as NodeInspect[];
  return nodes.map((node) => ({
    hostname: node.Description?.Hostname ?? '?',
    status: node.Status?.State ?? '?',
    manager: node.ManagerStatus ? (node.ManagerStatus.Leader ? 'leader' : 'manager') : 'worker',
    labels: node.Spec?.Labels ?? {},
  }));
}

/** What provision.sh labels: node<n> gets zone=n, etcd=n, and the workers db=n-1. */
function expectedLabels(node: string): Record<string, string> {
  const n = Number(node.slice(-1));
  return { zone: String(n), etcd: String(n), ...(n > 1 && { db: String(n - 1) }) };
}

function swarmProblems(nodes: NodeRow[]): string[] {
  const problems: string[] = [];
  for (const name of NODES) {
    const matches = nodes.filter((node) => node.hostname === name && node.status === 'ready');
    const node = matches[0];
    if (!node) {
      problems.push(`${name} is not Ready`);
      continue;
    }
    if (name === 'node1' && node.manager !== 'leader') problems.push(`node1 is ${node.manager}, not the leader`);
    if (name !== 'node1' && node.manager !== 'worker') problems.push(`${name} is a ${node.manager}, not a worker`);
    for (const [key, value] of Object.entries(expectedLabels(name))) {
      if (node.labels[key] !== value)
        problems.push(`${name}: label ${key}=${node.labels[key] ?? '(none)'}, not ${value}`);
    }
  }
  return problems;
}

/**
 * GET https://127.0.0.1:5000/v2/ trusting the lab CA only (node1's registry through the forwarded port), with the
 * registry's credentials or none.
 */
async function registryAnswers(authorization?: string): Promise<number> {
  const ca = await readFile(nodeTlsPaths().sharedCa);
  const url = new URL(`https://${REGISTRY_PUSH}/v2/`);
  const headers = authorization ? { authorization } : {};
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.href}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function verifySwarm(budget: Budget): Promise<string> {
  // vagrant up already waited for 3 Ready nodes; a short grace covers a node still settling.
  const until = performance.now() + Math.min(120_000, budget.left('the swarm checks'));
  let problems: string[] = [];
  let nodes: NodeRow[];
  for (;;) {
    nodes = await swarmNodes().catch((error: unknown) => {
      problems = [`node1's Docker API: ${firstLine(error)}`];
      return [];
    });
    if (nodes.length > 0) problems = swarmProblems(nodes);
    if (problems.length === 0 || performance.now() > until) break;
    await sleep(5000);
  }
  for (const node of nodes) {
    const labels = Object.entries(node.labels).map(([key, value]) => `${key}=${value}`);
    console.error(
      `  ${node.hostname.padEnd(6)} ${node.status.padEnd(6)} ${node.manager.padEnd(7)} ${labels.join(' ')}`,
    );
  }
  if (problems.length > 0) {
    throw new StopError(`The swarm is not as expected (${problems.length} problems):\n  - ${problems.join('\n  - ')}`);
  }
  const key = basicAuthorization(await registryCredentials(labPaths()));
  const [anonymous, user] = await Promise.all(
    [undefined, key].map((authorization) => registryAnswers(authorization).catch((error: unknown) => firstLine(error))),
  );
  if (anonymous !== 401 || user !== 200) {
    throw new StopError(
      `The lab registry at ${REGISTRY_PUSH} answered /v2/ with ${anonymous} without its password (401 expected) ` +
        `and ${user} with it (200 expected).`,
    );
  }
  return `3 nodes Ready (node1 leader), labels set, registry ${REGISTRY_PUSH} answers (TLS, 401 without its password)`;
}

async function deploy(edge: string | undefined, budget: Budget): Promise<string> {
  const args = edge ? ['--edge', edge] : [];
  const p: ProcessPromise = $({ quiet: true, cwd: REPO_ROOT })`npm run deploy -- ${args}`;
  await runWithProgress('npm run deploy', p.timeout(budget.left('npm run deploy'), 'SIGINT'), logFile('deploy'));
  return `deployed (log: ${path.relative(process.cwd(), logFile('deploy'))})`;
}

async function smoke(budget: Budget): Promise<string> {
  const client = new LabClient(await readFile(labPaths().tlsFiles.caCert));
  const until = performance.now() + Math.min(60_000, budget.left('the smoke request'));
  let problem: string;
  try {
    for (;;) {
      const started = performance.now();
      try {
        const res = await client.request({ host: 'api', path: '/readyz' });
        if (res.status === 200) return `GET ${labUrl('api')}/readyz 200 in ${formatMs(performance.now() - started)}`;
        problem = `status ${res.status}: ${res.body.slice(0, 200)}`;
      } catch (error) {
        problem = firstLine(error);
      }
      if (performance.now() > until) throw new StopError(`GET ${labUrl('api')}/readyz failed for 60 s: ${problem}`);
      await sleep(3000);
    }
  } finally {
    client.close();
  }
}

async function destroy(driver: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    // A vagrant up stopped by the time budget may still be releasing its machines' locks.
    const result = await vagrant(driver)`vagrant destroy -f`.nothrow().timeout(DESTROY_TIMEOUT_MS);
    const left = [...(await vagrantStates(driver))].filter(([, state]) => state !== 'not_created').map(([n]) => n);
    if (result.exitCode === 0 && left.length === 0) return 'VMs removed';
    if (attempt === 2) {
      throw new StopError(
        `vagrant destroy -f did not remove ${left.join(', ') || 'every VM'}: ${lastLine(result.stderr)}\n` +
          '  Remove them by hand: vagrant destroy -f (virsh -c qemu:///system list --all shows what is left)',
      );
    }
    await sleep(10_000);
  }
}

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      deploy: { type: 'boolean', default: false },
      'no-deploy': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '60' },
      driver: { type: 'string', default: process.env.LAB_LIBVIRT_DRIVER || 'qemu' },
      edge: { type: 'string', default: process.env.LAB_EDGE },
    },
    HELP,
  );
  if (flags.deploy && flags['no-deploy']) throw new StopError('--deploy and --no-deploy contradict each other.');
  if (flags.driver !== 'kvm' && flags.driver !== 'qemu') throw new StopError('--driver must be kvm or qemu.');
  if (flags.edge !== undefined && flags.edge !== 'traefik' && flags.edge !== 'haproxy') {
    throw new StopError('--edge must be traefik or haproxy.');
  }
  const withDeploy = !flags['no-deploy'];
  const driver = flags.driver;
  const budget = new Budget(intFlag('timeout', flags.timeout, 5, 600));
  const started = performance.now();
  await mkdir(LOG_DIR, { recursive: true });

  let failure: unknown;
  let created = false;
  try {
    await phase('prerequisites', () => prerequisites(driver, withDeploy));
    await phase(`box ${BOX}`, () => ensureBox(budget));
    created = true; // from here on, VMs may exist: destroy them at the end
    await phase(`vagrant up (libvirt, ${driver})`, () => vagrantUp(driver, budget));
    await phase("swarm through node1's TLS API", () => verifySwarm(budget));
    if (withDeploy) {
      await phase('npm run deploy', () => deploy(flags.edge, budget));
      await phase('smoke request through the edge', () => smoke(budget));
    }
  } catch (error) {
    failure = error;
  }
  if (created && !flags.keep) {
    await phase('vagrant destroy -f', () => destroy(driver)).catch((error: unknown) => {
      failure ??= error;
    });
  }

  const total = formatMs(performance.now() - started);
  summary(`Vagrant test ${failure === undefined ? 'passed' : 'FAILED'} in ${total} (libvirt, driver ${driver})`, {
    ...Object.fromEntries(phases.map((p) => [p.name, `${formatMs(p.ms).padStart(7)}  ${p.result}`])),
    ...(!withDeploy && { deploy: 'skipped (--no-deploy)' }),
    VMs: !created ? 'none created' : flags.keep ? 'kept: vagrant destroy -f removes them' : 'destroyed',
    logs: path.relative(process.cwd(), LOG_DIR),
  });
  if (failure !== undefined) throw failure;
}

await runCommand(main);
