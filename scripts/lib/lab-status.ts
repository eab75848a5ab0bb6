// `npm run lab:status`: what the lab runs and where, read from the manager.
import { $ } from 'zx';
import { printTable } from './docker.js';
import { labUrl, requireManager, type Lab } from './lab-context.js';
import { STACK } from './lab-secrets.js';
import { runJob } from './lab-swarm.js';
import { backupContainer, execInContainer, formatBackupList, lastOfEachKind, type BackupList } from './lab-backup.js';

export async function labStatus(lab: Lab): Promise<void> {
  await requireManager(lab);
  const nodes = await lab.docker.listNodes();
  printTable(
    `Nodes (${lab.describe})`,
    ['node', 'role', 'state', 'availability', 'labels', 'engine'],
    nodes
      .map((node) => [
        node.Description?.Hostname ?? node.ID ?? '',
        node.Spec?.Role ?? '',
        node.Status?.State ?? '',
        node.Spec?.Availability ?? '',
        Object.entries(node.Spec?.Labels ?? {})
          .map(([key, value]) => `${key}=${value}`)
          .sort()
          .join(' '),
        node.Description?.Engine?.EngineVersion ?? '',
      ])
      .sort((a, b) => a[0]!.localeCompare(b[0]!)),
  );
  const services = await lab.docker.listServices({ filters: { label: [`com.docker.stack.namespace=${STACK}`] } });
  if (services.length === 0) {
    console.log('\nNo swarmlab stack deployed. Next: npm run deploy');
    return;
  }
  const ls = await $({
    quiet: true,
    env: { ...process.env, ...lab.env },
  })`docker service ls --filter ${`label=com.docker.stack.namespace=${STACK}`} --format ${'{{.Name}}\t{{.Replicas}}\t{{.Image}}'}`;
  const tasks = await lab.docker.listTasks({ filters: { 'desired-state': ['running'] } });
  const nodeName = new Map(nodes.map((node) => [node.ID, node.Description?.Hostname ?? '']));
  printTable(
    'Services',
    ['service', 'replicas', 'image', 'tasks (node: state)'],
    ls.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
      .map(([name = '', replicas = '', image = '']) => {
        const id = services.find((service) => service.Spec?.Name === name)?.ID;
        const where = tasks
          .filter((task) => task.ServiceID === id)
          .map((task) => `${nodeName.get(task.NodeID) ?? '?'}: ${task.Status?.State ?? '?'}`)
          .sort()
          .join(', ');
        return [name, replicas, image.replace(/@sha256:[0-9a-f]{64}$/, ''), where];
      })
      .sort((a, b) => a[0]!.localeCompare(b[0]!)),
  );
  await printDatabase(lab, services);
  await printBackups(lab);
  console.log(
    `\nURLs: ${['api', 'grafana', 'prometheus', 'alertmanager', 'mail', 'traefik', 'jenkins'].map(labUrl).join('  ')}`,
  );
}

/** The last backup of each kind and the restorable window, from the backup service (backup-job info). */
async function printBackups(lab: Lab) {
  let list: BackupList | undefined;
  try {
    const run = await execInContainer(await backupContainer(lab), ['backup-job', 'info'], '');
    list = run.result as unknown as BackupList | undefined;
  } catch (error) {
    console.log(`\nBackups: unknown (${(error as Error).message.split('\n')[0]})`);
    return;
  }
  if (!list) return;
  console.log(`\nBackups (npm run backup:list for all)`);
  for (const line of formatBackupList(lastOfEachKind(list))) console.log(`  ${line}`);
}

/** Patroni's view of the cluster (GET /cluster on a member, read-only), from a one-shot job on the data network. */
async function printDatabase(lab: Lab, services: Awaited<ReturnType<Lab['docker']['listServices']>>) {
  const member = services.find((service) => service.Spec?.Name === `${STACK}_postgres1`);
  const image = (member?.Spec?.TaskTemplate as { ContainerSpec?: { Image?: string } } | undefined)?.ContainerSpec
    ?.Image;
  if (!image) return;
  const probe =
    'import json, urllib.request\n' +
    'for host in ("postgres1", "postgres2"):\n' +
    '    try:\n' +
    '        print(urllib.request.urlopen(f"http://{host}:8008/cluster", timeout=3).read().decode()); break\n' +
    '    except Exception as error:\n' +
    '        last = error\n' +
    'else:\n' +
    '    print(json.dumps({"error": str(last)}))\n';
  let output: string;
  try {
    output = await runJob(
      lab,
      {
        name: 'status-probe',
        image,
        entrypoint: 'python3',
        command: ['-c', probe],
        networks: [`${STACK}_data`],
        secrets: [],
        env: {},
      },
      60_000,
    );
  } catch (error) {
    console.log(`\nDatabase: could not ask Patroni: ${(error as Error).message}`);
    return;
  }
  const cluster = JSON.parse(output.split('\n').pop() ?? '{}') as {
    error?: string;
    members?: { name: string; role: string; state: string; timeline?: number; lag?: number | string }[];
  };
  if (!cluster.members) {
    console.log(`\nDatabase: Patroni did not answer (${cluster.error ?? 'no members'})`);
    return;
  }
  printTable(
    'Database (Patroni)',
    ['member', 'role', 'state', 'timeline', 'lag (bytes)'],
    cluster.members.map((m) => [
      m.name,
      m.role,
      m.state,
      String(m.timeline ?? ''),
      m.role === 'leader' ? '' : String(m.lag ?? '?'),
    ]),
  );
}
