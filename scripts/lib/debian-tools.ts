// Tools that tests and commands run from Debian packages: found on PATH, else installed when we can (root with
// apt), else a stop with the exact command to run. Never a silent skip.
import { existsSync } from 'node:fs';
import { $, which } from 'zx';

const missingOf = async (tools: Record<string, string>) => {
  const absent: string[] = [];
  for (const tool of Object.keys(tools)) if (!(await which(tool, { nothrow: true }))) absent.push(tool);
  return absent;
};

/** Makes sure every tool (command name → Debian package) is on PATH. */
export async function requireDebianTools(tools: Record<string, string>): Promise<void> {
  let missing = await missingOf(tools);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((tool) => tools[tool]!))];
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error(`${missing.join(', ')} not found; installing: ${command}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await $({ quiet: true, nothrow: true })`apt-get update`;
    await $({ quiet: true, nothrow: true, env })`apt-get install -y --no-install-recommends ${packages}`;
    missing = await missingOf(tools);
  }
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not found. Install with: ${command}`);
}
