// Alertmanager's configuration as deployed: monitoring/alertmanager/alertmanager.yml, with its Slack entries (the
// lines marked `# slack`) removed unless the operator has given a Slack webhook URL in <LAB_DIR>/secrets/
// slack_webhook_url. Deploy creates the Docker config and the Docker secret from what this module returns, both
// named by their content's hash, so a change (Slack on or off, a new URL) rolls Alertmanager.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { StopError } from './cli.js';
import { REPO_ROOT } from './paths.js';

export const ALERTMANAGER_FILE = path.join(REPO_ROOT, 'monitoring/alertmanager/alertmanager.yml');
/** What the slack_webhook_url secret holds when Slack is off (the trimmed configuration never reads it). */
export const SLACK_OFF = 'slack-off';

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** The operator's Slack webhook URL, or undefined (file absent or empty). Refuses anything but an https URL. */
export function slackWebhookUrl(labRoot: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(labRoot, 'secrets', 'slack_webhook_url'), 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!text) return undefined;
  if (!/^https:\/\/\S+$/.test(text)) {
    throw new StopError(
      `${path.join(labRoot, 'secrets', 'slack_webhook_url')} must hold one https:// URL (Slack's incoming webhook), ` +
        'or be removed to turn Slack off.',
    );
  }
  return text;
}

/** The configuration text: as in the repository with Slack, without its `# slack` lines otherwise. */
export function alertmanagerConfigText(slack: boolean, file = ALERTMANAGER_FILE): string {
  const text = readFileSync(file, 'utf8');
  if (slack) return text;
  return text
    .split('\n')
    .filter((line) => !/#\s*slack\s*$/.test(line))
    .join('\n');
}

export interface AlertmanagerDeployment {
  configText: string;
  /** ALERTMANAGER_CONFIG_HASH: the suffix of the Docker config's name. */
  configHash: string;
  slackSecret: string;
  /** SLACK_WEBHOOK_URL_HASH: the suffix of the Docker secret's name. */
  slackHash: string;
  slack: boolean;
}

export function alertmanagerDeployment(labRoot: string, file = ALERTMANAGER_FILE): AlertmanagerDeployment {
  const url = slackWebhookUrl(labRoot);
  const configText = alertmanagerConfigText(url !== undefined, file);
  const slackSecret = url ?? SLACK_OFF;
  return { configText, configHash: hash(configText), slackSecret, slackHash: hash(slackSecret), slack: !!url };
}
