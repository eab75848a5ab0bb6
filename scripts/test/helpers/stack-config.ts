// `docker stack config`, the real CLI, as deploy renders the stack: for the tests that read the rendered document.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../lib/paths.js';

const execFileAsync = promisify(execFile);

// `docker stack config` and version-less stack files need Docker CLI >= 23: Debian 12's docker.io (20.10) has
// neither, so the CLI comes from Docker's apt repository (this machine kind ships one in /usr/local/bin).
const INSTALL =
  "install Docker CLI >= 23 first on PATH: apt-get install -y docker-ce-cli (from Docker's apt repository, " +
  "https://docs.docker.com/engine/install/debian/); Debian's docker.io 20.10 has no `docker stack config`";

export interface Rendered {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** `docker stack config -c FILE...` with only PATH, HOME and `variables` in the environment. */
export async function render(files: string[], variables: Record<string, string>): Promise<Rendered> {
  const args = ['stack', 'config', ...files.flatMap((file) => ['-c', file])];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...variables };
  try {
    const { stdout, stderr } = await execFileAsync('docker', args, { cwd: REPO_ROOT, env, maxBuffer: 16 << 20 });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT') {
      throw new Error(`The docker CLI is missing, and the stack tests need it: ${INSTALL}`, { cause: error });
    }
    const stderr = failure.stderr ?? String(error);
    if (/unknown (command|flag)|is not a docker command|unknown shorthand/i.test(stderr)) {
      throw new Error(`This docker CLI has no \`docker stack config\`: ${INSTALL}\n${stderr}`, {
        cause: error,
      });
    }
    return { ok: false, stdout: failure.stdout ?? '', stderr };
  }
}
