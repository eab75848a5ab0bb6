// Vitest global setup: the Debian tools the suites run (linters, openssl, etcd, Patroni, HAProxy, pgBackRest, the
// Prometheus tools), installed before any file starts when this is root on Debian; else one apt-get line to run.
import { requireDebianTools, TEST_TOOLS } from '../lib/debian-tools.js';

export default async function setup() {
  await requireDebianTools(TEST_TOOLS);
}
