// The record of the last successful deploy (LAB_DIR/deploy/last.json): what deploy compares a new stack with, and
// what rollback after a failed deploy compares the running API with.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { labDir } from './lab-secrets.js';

export const deployDir = () => path.join(labDir(), 'deploy');
export const lastDeployFile = () => path.join(deployDir(), 'last.json');

export interface LastDeploy {
  fingerprint: string;
  commit: string;
  at: string;
  /** Each stack image's tag in the lab registry (api: c-<hash>, ...). */
  images: Record<string, string>;
}

/** The record of the last successful deploy; an unreadable one counts as none (deploy writes it again on success). */
export async function readLastDeploy(): Promise<LastDeploy | undefined> {
  const text = await readFile(lastDeployFile(), 'utf8').catch(() => undefined);
  try {
    return text ? (JSON.parse(text) as LastDeploy) : undefined;
  } catch {
    console.error(`note: ${lastDeployFile()} is not JSON: taken as no record (deploy writes it again on success)`);
    return undefined;
  }
}
