// The deployed lab's Patroni, for the db:* commands. Its REST API listens on the data network only (postgres1:8008,
// postgres2:8008), so requests go through node1's Docker API: curl, run in the backup task (pinned to the manager,
// on the data network, curl in its image). The REST password travels in the exec's environment and reaches curl as
// a config on its stdin, never in a command line that `ps` would show.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { StopError } from './cli.js';
import { managerContainer } from './lab-backup.js';
import { findLab, requireManager, type Lab } from './lab-context.js';
import { labPaths, secretFile } from './lab-secrets.js';
import type { ClusterLocation, HttpRequest, HttpResponse } from './patroni.js';

/** Where each member's REST API and the db-router's stats page answer on the data network (docker-compose.yml). */
export const LAB_PATRONI_URLS = ['http://postgres1:8008', 'http://postgres2:8008'];
export const LAB_ROUTER_STATS_URL = 'http://db-router:8404/stats';
const RELAY_SERVICE = 'backup';

async function execCapture(container: Docker.Container, command: string[], env: string[]) {
  const exec = await container.exec({ Cmd: command, Env: env, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  container.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const { ExitCode } = await exec.inspect();
  return { exitCode: ExitCode ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** An HTTP request made from inside the lab's relay task; a transport error throws, as fetch does. */
export function relayHttp(container: Docker.Container) {
  return async (url: string, request: HttpRequest): Promise<HttpResponse> => {
    const args = ['--silent', '--show-error', '--max-time', String(Math.ceil(request.timeoutMs / 1000))];
    args.push('--request', request.method ?? 'GET', '--output', '-', '--write-out', '\n%{http_code}');
    for (const [name, value] of Object.entries(request.headers ?? {})) args.push('--header', `${name}: ${value}`);
    if (request.body !== undefined) args.push('--data-binary', request.body);
    const credentials = request.basicAuth && `${request.basicAuth.user}:${request.basicAuth.password}`;
    const env = credentials ? [`RELAY_USER=${credentials.replace(/[\\"]/g, '\\$&')}`] : [];
    // The credentials, if any, as curl's config on stdin: printf is the shell's own, so no process shows them.
    const script = credentials
      ? 'printf \'user = "%s"\\n\' "$RELAY_USER" | exec curl --config - "$@"'
      : 'exec curl "$@"';
    const run = await execCapture(container, ['sh', '-c', script, 'curl', ...args, url], env);
    if (run.exitCode !== 0)
      throw new Error(run.stderr.trim().replace(/^curl: \(\d+\) /, '') || `curl exit ${run.exitCode}`);
    const cut = run.stdout.lastIndexOf('\n');
    return { status: Number(run.stdout.slice(cut + 1)), text: run.stdout.slice(0, cut) };
  };
}

/** The deployed lab's cluster: its members, its db-router, its REST password, reached through node1. */
export async function labClusterLocation(): Promise<ClusterLocation> {
  let lab: Lab;
  try {
    lab = await findLab();
    await requireManager(lab);
  } catch (error) {
    if (!(error instanceof StopError)) throw error;
    throw new StopError(`${error.message}\nFor the local cluster of npm run db:dev, add --local.`);
  }
  return clusterOf(lab);
}

/** The cluster of a lab already found. */
export async function clusterOf(lab: Lab): Promise<ClusterLocation> {
  const relay = await managerContainer(lab, RELAY_SERVICE);
  return {
    apiUrls: [...LAB_PATRONI_URLS],
    from: `the lab (${lab.describe}, through the ${RELAY_SERVICE} task)`,
    apiPasswordFile: secretFile('patroni_restapi_password', labPaths()),
    routerStatsUrl: LAB_ROUTER_STATS_URL,
    http: relayHttp(relay),
  };
}
