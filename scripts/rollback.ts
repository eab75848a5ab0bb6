// `npm run rollback`: the API back to the version it ran before the last deploy, then the same wait and smoke test
// as deploy. During a blue/green release, the traffic goes back to the live version at once and the candidate is
// removed; otherwise Swarm rolls the service back to its previous spec. For a failed pipeline (Jenkins'
// post-failure step) or by hand.
import { performance } from 'node:perf_hooks';
import { $ } from 'zx';
import { abortBlueGreen, detectEdge, liveImage } from './lib/bluegreen.js';
import { intFlag, parseFlags, runCommand, StopError } from './lib/cli.js';
import { formatMs, lastLine, requireDocker } from './lib/docker.js';
import { findLab, labUrl, requireManager } from './lib/lab-context.js';
import { failureDetails, ServiceFailure, stackService, waitForConvergence } from './lib/lab-swarm.js';
import { readLastDeploy } from './lib/last-deploy.js';
import { step, summary } from './lib/log.js';
import { smokeTest } from './lib/smoke.js';

const HELP = `
Usage: npm run rollback [-- --service <name>] [--timeout <seconds>]

Rolls a service of the stack (default: api) back to its previous spec, the one before the last deploy changed it
(docker service rollback), waits until the stack has converged and runs the smoke test through the edge.
While a blue/green release runs (npm run deploy -- --strategy bluegreen: api-next beside api), the API's traffic
goes back to api, the previous version, in one step, and api-next is removed.
Exits 1 when the service has no previous spec, or when the rollback does not converge or fails the smoke test.

Options:
  --service <name>  the stack service (default api)
  --after-failure   after a failed deploy (the pipeline's post-failure step): roll back only what that deploy left
                    changed. When the API runs the image of the last successful deploy (LAB_DIR/deploy/last.json),
                    which is the case once Swarm or a blue/green deploy has put the live version back, nothing is
                    done: rolling back further would undo a good release.
  --timeout <s>     how long it may take to converge (default 300)
`;

async function main() {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      service: { type: 'string', default: 'api' },
      timeout: { type: 'string', default: '300' },
      'after-failure': { type: 'boolean', default: false },
    },
    HELP,
  );
  const timeoutMs = intFlag('timeout', flags.timeout, 30, 3600) * 1000;
  const started = performance.now();
  await requireDocker();
  const lab = await findLab();
  await requireManager(lab);
  if (flags.service === 'api') {
    const edge = await detectEdge(lab);
    const aborted = await abortBlueGreen(lab, edge);
    if (aborted) {
      const smoke = await step('smoke test through the edge', () => smokeTest());
      summary(`Blue/green release rolled back in ${formatMs(performance.now() - started)}`, {
        api: aborted,
        smoke,
        next: `npm run lab:status; ${labUrl('api')}`,
      });
      return;
    }
  }
  if (flags['after-failure'] && flags.service === 'api') {
    const last = await readLastDeploy();
    const running = await liveImage(lab);
    if (last?.images.api && running.endsWith(`:${last.images.api}`)) {
      summary('Nothing to roll back: the API runs the version of the last successful deploy', {
        api: `${running} (deployed ${last.at}, commit ${last.commit.slice(0, 12)})`,
        next: 'npm run lab:status',
      });
      return;
    }
  }
  const name = stackService(flags.service);
  const service = await lab.docker
    .getService(name)
    .inspect()
    .catch(() => undefined);
  if (!service) throw new StopError(`No service ${name} in the lab: nothing to roll back (npm run lab:status).`);
  if (!service.PreviousSpec) throw new StopError(`${name} has no previous version to go back to.`);
  // A rollback swaps the current and previous specs: one already done (by Swarm, or by a failed deploy) must not be
  // undone by a second.
  const update = (service as { UpdateStatus?: { State?: string } }).UpdateStatus?.State ?? '';
  if (update.startsWith('rollback_')) {
    summary(`${name} is already rolled back (${update.replace('_', ' ')}): nothing to do`, {
      next: 'npm run lab:status',
    });
    return;
  }
  const image = (spec: typeof service.Spec) => String(spec?.TaskTemplate?.ContainerSpec?.Image ?? '').split('@')[0];
  const from = image(service.Spec);
  const to = image(service.PreviousSpec);
  await step(`roll ${flags.service} back: ${from} → ${to}`, async () => {
    const result = await $({
      quiet: true,
      env: { ...process.env, ...lab.env },
    })`docker service rollback --detach ${name}`.nothrow();
    if (result.exitCode !== 0) throw new StopError(`docker service rollback ${name}: ${lastLine(result.stderr)}`);
  });
  try {
    await step('wait until every service has converged', () => waitForConvergence(lab, timeoutMs));
    const smoke = await step('smoke test through the edge', () => smokeTest());
    summary(`Rolled back in ${formatMs(performance.now() - started)}`, {
      service: `${flags.service}: now ${to} (was ${from})`,
      smoke,
      next: `npm run lab:status; ${labUrl('api')}`,
    });
  } catch (error) {
    if (error instanceof ServiceFailure) {
      console.error(await failureDetails(lab, error.service));
      throw new StopError(`Rollback failed: ${error.message}`);
    }
    throw error;
  }
}

await runCommand(main);
