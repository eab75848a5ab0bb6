// The lab's Pushgateway from outside its network. It listens on the internal monitoring network only and asks for
// its basic auth, so npm run deploy and the pipeline's kpi:record push through the Pushgateway's own container on
// node1 (docker exec, bash's /dev/tcp), with the key that container holds.
import type { PushResult } from './dora.js';
import { execInContainer, managerContainer } from './lab-backup.js';
import type { Lab } from './lab-context.js';

/**
 * The bash that PUTs /metrics/$1 (a group: job/<name>[/<label>/<value>...]) with the body $2 to the Pushgateway on
 * 127.0.0.1:`port` (ASCII: its length in bytes is its length in characters under LC_ALL=C); exit 1 unless it
 * answers 2xx. In the Pushgateway's container the key is the container's own (WEB_AUTH_USER, WEB_AUTH_PASSWORD_FILE,
 * as monitoring/web-auth reads them): the password never leaves the container, and whoever pushes this way holds
 * no key of their own.
 */
export const pushScript = (port = 9091) =>
  [
    'LC_ALL=C',
    'auth=',
    'if [[ -n ${WEB_AUTH_PASSWORD_FILE:-} ]]; then',
    '  auth="Authorization: Basic $(printf "%s:%s" "$WEB_AUTH_USER" "$(<"$WEB_AUTH_PASSWORD_FILE")" | base64 -w0)\\r\\n"',
    'fi',
    `exec 3<>/dev/tcp/127.0.0.1/${port}`,
    'printf "PUT /metrics/%s HTTP/1.0\\r\\n%bContent-Type: text/plain; version=0.0.4\\r\\nContent-Length: %s\\r\\n\\r\\n%s" "$1" "$auth" "${#2}" "$2" >&3',
    'read -r _ status _ <&3',
    '[[ $status == 2?? ]] || { echo "answered $status" >&2; exit 1; }',
  ].join('\n');

/** Pushes `body` as the group at /metrics/`group` through the lab's Pushgateway container; never throws. */
export async function pushThroughLab(lab: Lab, group: string, body: string): Promise<PushResult> {
  const where = `the lab's Pushgateway (${lab.describe}, through its container)`;
  try {
    if (!/^[\x20-\x7e\n]*$/.test(body)) return { pushed: false, reason: 'the metrics are not plain ASCII' };
    const container = await managerContainer(lab, 'pushgateway');
    const run = await execInContainer(container, ['bash', '-c', pushScript(), 'push', group, body], '  pushgateway: ');
    return run.exitCode === 0
      ? { pushed: true, url: where }
      : { pushed: false, reason: `${where}: exit ${run.exitCode}` };
  } catch (error) {
    return { pushed: false, reason: `${where}: ${(error as Error).message.split('\n')[0]}` };
  }
}
