// `npm run lab:status`: what the lab runs and where, read from the manager.
import { $ } from 'zx';
import { printTable } from './docker.js';
import { labUrl, requireManager, type Lab } from './lab-context.js';
import { STACK } from './lab-secrets.js';

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
  console.log(
    `\nURLs: ${['api', 'grafana', 'prometheus', 'alertmanager', 'traefik', 'jenkins'].map(labUrl).join('  ')}`,
  );
}
