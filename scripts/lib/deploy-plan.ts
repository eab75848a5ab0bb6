// The deploy's decisions, kept free of I/O so they are unit-tested: what an image's registry tag is, what to push,
// whether anything changed since the last deploy, when the stack has converged, and when to roll back.
import { createHash } from 'node:crypto';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What `docker image inspect` says of an image, as far as its content goes. */
export interface ImageInspect {
  RootFS?: { Layers?: string[] };
  Config?: Record<string, unknown> & { Labels?: Record<string, string> | null };
}

const RUNTIME_CONFIG = [
  'User',
  'Env',
  'Entrypoint',
  'Cmd',
  'WorkingDir',
  'ExposedPorts',
  'Volumes',
  'Healthcheck',
  'StopSignal',
] as const;

/**
 * The image's tag in the lab registry: c-<12 hex> of its layers and runtime settings, labels left out. A rebuild
 * of unchanged sources gets the same tag although its labels (revision, created) differ, so its services do not
 * roll; any change to what runs gets a new one.
 */
export function contentTag(image: ImageInspect): string {
  const layers = image.RootFS?.Layers ?? [];
  if (layers.length === 0) throw new Error('the image has no layers: is this an image inspect result?');
  const config = Object.fromEntries(RUNTIME_CONFIG.map((key) => [key, image.Config?.[key] ?? null]));
  return `c-${sha256(JSON.stringify({ layers, config })).slice(0, 12)}`;
}

export interface ImagePlan {
  name: string;
  tag: string;
  /** Pushed now; false when the registry already holds this content (kept as it is: same digest, no roll). */
  push: boolean;
}

/** Pushes only the images whose content tag the registry does not hold yet. */
export function planImages(images: { name: string; tag: string }[], inRegistry: ReadonlySet<string>): ImagePlan[] {
  return images.map(({ name, tag }) => ({ name, tag, push: !inRegistry.has(`${name}:${tag}`) }));
}

/** The fingerprint of a rendered stack: the same text deploys the same services. */
export const stackFingerprint = (rendered: string) => sha256(rendered);

/** One service as the manager reports it, reduced to what convergence needs. */
export interface ServiceState {
  name: string;
  /** Replicas wanted (replicated services). */
  desired: number;
  /** Tasks running the service's current image (with a healthcheck: healthy). */
  running: number;
  /** Swarm's update state: undefined before any update; updating, completed, paused, rollback_started, ... */
  update?: string;
  /** Swarm's message on the update, when it has one. */
  updateMessage?: string;
  /** Errors of the service's recent failed tasks (newest first). */
  taskErrors: string[];
}

export type Convergence =
  | { state: 'converged' }
  | { state: 'waiting'; pending: string[] }
  | { state: 'failed'; service: string; reason: string };

/** Whether the stack has converged, is still on its way, or has failed (then: which service and why). */
export function convergence(services: ServiceState[]): Convergence {
  for (const service of services) {
    if (service.update && /^(paused|rollback_)/.test(service.update)) {
      return {
        state: 'failed',
        service: service.name,
        reason: `update ${service.update.replace('_', ' ')}${service.updateMessage ? `: ${service.updateMessage}` : ''}`,
      };
    }
  }
  const pending = services
    .filter((service) => service.running !== service.desired || service.update === 'updating')
    .map((service) => service.name);
  return pending.length === 0 ? { state: 'converged' } : { state: 'waiting', pending };
}

/**
 * What to roll back after a failed deploy: the services that were updated in it and are not already rolling back
 * (Swarm rolls back by itself those with failure_action rollback whose update failed).
 */
export function servicesToRollBack(updated: string[], services: ServiceState[]): string[] {
  return updated.filter((name) => {
    const service = services.find((candidate) => candidate.name === name);
    return service !== undefined && !/^rollback_/.test(service.update ?? '');
  });
}
