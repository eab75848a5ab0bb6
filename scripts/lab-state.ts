// `npm run lab:state`: the pipeline's first deploy step. It unpacks the lab state the operator's deploy gave the stack's
// Jenkins (/run/secrets/lab_state) into LAB_DIR, so the pipeline's `npm run deploy` uses the lab's own secrets, CA and
// settings instead of making new ones. What the state holds and why: scripts/lib/lab-state.ts; docs/cicd.md.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseFlags, runCommand, StopError } from './lib/cli.js';
import { labPaths } from './lib/lab-secrets.js';
import {
  LAB_STATE_MOUNT,
  labStateSecretName,
  parseLabState,
  requireDeployableState,
  STATE_ENV,
  unpackLabState,
} from './lib/lab-state.js';
import { parseLabDomain } from './lib/lab-tls.js';
import { step, summary } from './lib/log.js';

const HELP = `
Usage: npm run lab:state [-- --from <file>]

Unpacks the lab state into LAB_DIR (the Jenkinsfile sets LAB_DIR=$JENKINS_HOME/swarmlab-lab). The state is what
npm run deploy on the operator's machine deployed with: the secrets and their versions, the lab CA's certificate
and the certificates issued from it, the Docker client certificate, the node driver, the edge, and LAB_DOMAIN,
ACME_EMAIL, SWARMLAB_GIT_URL and SWARMLAB_GIT_BRANCH. That deploy gives it to the stack's Jenkins as the Docker secret
swarmlab_lab_state_<hash>. Never the CA's key: the pipeline deploys what the operator made, and never issues or
rotates anything.

LAB_DIR's secrets/, ca/, tls/ and docker/ then hold exactly the state's files, and lab.json its settings. Its deploy/
folder (the pipeline's deploy records) is left as it is. It refuses a folder that holds the lab CA's key: that is
the operator's own lab folder, not the pipeline's.

Options:
  --from <file>   the packed state (default ${LAB_STATE_MOUNT}, where the jenkins service mounts it)
`;

async function main() {
  const flags = parseFlags(process.argv.slice(2), { from: { type: 'string', default: LAB_STATE_MOUNT } }, HELP);
  const paths = labPaths();
  if (existsSync(paths.tlsFiles.caKey)) {
    throw new StopError(
      `${paths.root} holds the lab CA's key (${paths.tlsFiles.caKey}): it is the operator's lab folder, which lab:state ` +
        "would overwrite. Run it with LAB_DIR set to the pipeline's folder. If this is a pipeline folder made " +
        'before lab:state existed, delete it and build again.',
    );
  }
  const text = await readFile(flags.from, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw new StopError(
      `There is no lab state at ${flags.from}. The operator's npm run deploy makes it and gives it to the stack's ` +
        "Jenkins (/run/secrets/lab_state): run npm run deploy on the operator's machine once, then build again.",
    );
  });
  const state = parseLabState(text, flags.from);
  const stale = await step(`unpack the lab state into ${paths.root}`, () => unpackLabState(state, paths));
  const domain = parseLabDomain(state.settings.env.LAB_DOMAIN);
  await step('check it can be deployed as it is', () => requireDeployableState(paths, domain));
  const settings = state.settings;
  summary('Lab state unpacked', {
    'lab folder': paths.root,
    state: `${labStateSecretName(text)}: ${state.files.size} files`,
    ...(stale.length > 0 && { removed: `${stale.join(', ')} (no longer in the state)` }),
    nodes: settings.driver,
    edge: settings.edge,
    environment:
      STATE_ENV.filter((name) => settings.env[name])
        .map((name) => `${name}=${settings.env[name]}`)
        .join(', ') || 'none set',
    next: 'npm run deploy (SWARMLAB_PIPELINE=1 uses these settings)',
  });
}

await runCommand(main);
