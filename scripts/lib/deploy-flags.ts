// The flags of `npm run deploy`, which `npm run lab` (lab:up, then deploy) takes too: one definition, one help text.
import { intFlag, parseFlags, StopError } from './cli.js';
import { STRATEGIES, type Strategy } from './dora.js';

export const DEPLOY_FLAGS_HELP = `How the API changes (--strategy):
  rolling          Swarm replaces the API's tasks one at a time, each new one healthy before an old one stops
                   (start-first); a new version that does not turn healthy is rolled back by Swarm (default)
  bluegreen        the new version starts beside the live one as api-next, is smoke-tested through the edge on
                   a private route (header X-Swarmlab-Candidate: 1), then all traffic switches to it in one step;
                   the previous version is kept for --grace seconds, when npm run rollback switches back at once;
                   then api rolls to the new version behind the scenes and api-next is removed. When the API's
                   image is unchanged (or on a first deploy) there is nothing to switch: it deploys as rolling.
  Both end with a smoke test through the edge; on failure the live version keeps (or gets back) the traffic and
  deploy exits 1.

Options:
  --edge traefik   Traefik is the TLS entry point (default)
  --edge haproxy   where Traefik's official image cannot be pulled: HAProxy (lab/edge-fallback/) takes its ports
                   and routes api.lab.localhost only
  --grace <s>      blue/green: how long the previous version is kept for an instant rollback (default 120)
  --timeout <s>    how long services may take to converge (default 600)

Environment: LAB_DEPLOY_STRATEGY (default for --strategy), LAB_EDGE (default for --edge), LAB_DIR, DOCKER_HOST; LAB_DOMAIN (the lab certificate also covers
it) and, with it, ACME_EMAIL: Traefik then gets certificates for <name>.$LAB_DOMAIN from Let's Encrypt (TLS-ALPN
challenge: the domain's DNS must point at node1 and its port 443 be reachable from the internet).`;

export interface DeployFlags {
  strategy: Strategy;
  edge: 'traefik' | 'haproxy';
  graceMs: number;
  timeoutMs: number;
}

/** Parses and checks deploy's flags (--help prints `help` and exits); \`edge\` is the pipeline's recorded edge. */
export function readDeployFlags(argv: string[], help: string, edge?: string): DeployFlags {
  const flags = parseFlags(
    argv,
    {
      strategy: { type: 'string', default: process.env.LAB_DEPLOY_STRATEGY || 'rolling' },
      edge: { type: 'string', default: process.env.LAB_EDGE || edge || 'traefik' },
      grace: { type: 'string', default: '120' },
      timeout: { type: 'string', default: '600' },
    },
    help,
  );
  if (flags.edge !== 'traefik' && flags.edge !== 'haproxy') throw new StopError('--edge must be traefik or haproxy.');
  if (!(STRATEGIES as readonly string[]).includes(flags.strategy))
    throw new StopError(`--strategy must be ${STRATEGIES.join(' or ')} (got ${flags.strategy}).`);
  return {
    strategy: flags.strategy as Strategy,
    edge: flags.edge,
    graceMs: intFlag('grace', flags.grace, 0, 86_400) * 1000,
    timeoutMs: intFlag('timeout', flags.timeout, 30, 3600) * 1000,
  };
}
