// What the remediator may do to the swarm, and its dockerode implementation. Services are named by their short
// name (`api`); the Swarm service is `<stack>_<service>`, as `docker stack deploy` names it.
import type Docker from 'dockerode';

export interface SwarmActions {
  /** The desired replica count of a replicated service. */
  replicas(service: string): Promise<number>;
  scale(service: string, replicas: number): Promise<void>;
  /** A rolling restart: every task is replaced under the service's update_config. */
  forceRestart(service: string): Promise<void>;
  /** Starts a backup and returns without waiting for it; resolves to a reference of the started job. */
  /** Starts `backup-job backup due`: the backup service judges which backup is due, if any. */
  startBackup(): Promise<string>;
}

interface ServiceInspect {
  Version: { Index: number };
  Spec: Docker.ServiceSpec;
}

export class DockerSwarmActions implements SwarmActions {
  constructor(
    private readonly docker: Docker,
    private readonly stack: string,
  ) {}

  async replicas(service: string): Promise<number> {
    const { info } = await this.inspect(service);
    return replicatedMode(info.Spec, this.swarmName(service)).Replicas ?? 1;
  }

  async scale(service: string, replicas: number): Promise<void> {
    await this.update(service, (spec) => {
      replicatedMode(spec, this.swarmName(service)).Replicas = replicas;
    });
  }

  async forceRestart(service: string): Promise<void> {
    await this.update(service, (spec) => {
      // Swarm replaces every task when ForceUpdate changes, even though nothing else in the spec did.
      spec.TaskTemplate = { ...spec.TaskTemplate, ForceUpdate: (spec.TaskTemplate?.ForceUpdate ?? 0) + 1 };
    });
  }

  async startBackup(): Promise<string> {
    const service = this.swarmName('backup');
    // Only this engine's containers are visible through its socket: the backup task must run on this node.
    const containers = await this.docker.listContainers({
      filters: { label: [`com.docker.swarm.service.name=${service}`], status: ['running'] },
    });
    const target = containers[0];
    if (!target) throw new Error(`no running container of ${service} on this node`);
    const exec = await this.docker.getContainer(target.Id).exec({
      Cmd: ['backup-job', 'backup', 'due'],
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
    });
    const stream = await exec.start({ Detach: true });
    // Detached: the daemon answers at once with an empty body; drain it so the socket is released.
    stream?.resume?.();
    return `exec ${exec.id.slice(0, 12)} in container ${target.Id.slice(0, 12)}`;
  }

  private swarmName(service: string) {
    return `${this.stack}_${service}`;
  }

  private async inspect(service: string) {
    const handle = this.docker.getService(this.swarmName(service));
    const info = (await handle.inspect()) as ServiceInspect;
    return { handle, info };
  }

  private async update(service: string, change: (spec: Docker.ServiceSpec) => void): Promise<void> {
    const { handle, info } = await this.inspect(service);
    const spec = structuredClone(info.Spec);
    change(spec);
    // `version` makes the update conditional: had the service changed since the inspect, Docker refuses it
    // ("update out of sequence") instead of overwriting the newer spec. _query/_body keep docker-modem from
    // also serialising the whole spec into the query string.
    await handle.update({ _query: { version: info.Version.Index }, _body: spec });
  }
}

function replicatedMode(spec: Docker.ServiceSpec, name: string) {
  const replicated = spec.Mode?.Replicated;
  if (!replicated) throw new Error(`${name} is not a replicated service`);
  return replicated;
}
