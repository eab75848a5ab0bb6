// `npm run lab:status`: what the lab runs and where, read from the manager.
import { $ } from 'zx';
import { printTable } from './docker.js';
import { DOCKER_CONTEXT, dockerContextHost, labUrl, requireManager, type Lab } from './lab-context.js';
import { STACK } from './lab-secrets.js';
import { clusterOf } from './lab-patroni.js';
import { formatBytes, PatroniClient, roleLabel, type ClusterView } from './patroni.js';
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
  await printDatabase(lab);
  await printBackups(lab);
  // The HAProxy edge (deploy --edge haproxy) routes the API only; the ops UIs come with Traefik's.
  const fallbackEdge = services.some((service) => service.Spec?.Name === `${STACK}_edge-fallback`);
  console.log(
    fallbackEdge
      ? `\nURLs: ${labUrl('api')}  (edge: HAProxy fallback, the API only; Grafana and the other UIs need Traefik's edge)`
      : `\nURLs: ${['api', 'grafana', 'prometheus', 'alertmanager', 'mail', 'traefik', 'jenkins'].map(labUrl).join('  ')}`,
  );
  const context = await dockerContextHost();
  console.log(
    context
      ? `Docker CLI: docker --context ${DOCKER_CONTEXT} service ls  (the context ${DOCKER_CONTEXT} reaches ${context})`
      : `Docker CLI: no context ${DOCKER_CONTEXT} on this host yet; npm run lab:up or npm run deploy makes it.`,
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

/** Patroni's view of the cluster (GET /cluster, read-only), asked from inside the lab (lab-patroni.ts). */
async function printDatabase(lab: Lab) {
  let view: ClusterView;
  try {
    view = await new PatroniClient(await clusterOf(lab)).cluster();
  } catch (error) {
    console.log(`\nDatabase: could not ask Patroni: ${(error as Error).message.split('\n')[0]}`);
    return;
  }
  printTable(
    'Database (Patroni; npm run db:status for more)',
    ['member', 'role', 'state', 'timeline', 'lag'],
    view.members.map((m) => [
      m.name,
      roleLabel(m.role),
      m.state,
      String(m.timeline ?? ''),
      m.role === 'leader' ? '' : m.lag === undefined ? 'unknown' : formatBytes(m.lag),
    ]),
  );
}
