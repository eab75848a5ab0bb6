// Prints one closing line for the CI log from vitest's JUnit reports: "N passed, N failed, N skipped". A report
// that is missing (its suite did not run) counts as one failure.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['reports/junit.xml'];
const missing = files.filter((file) => !existsSync(file));
for (const file of missing) console.log(`missing report: ${file} (its tests did not run)`);
const xml = files
  .filter((file) => existsSync(file))
  .map((file) => readFileSync(file, 'utf8'))
  .join('\n');
const count = (pattern) => (xml.match(pattern) ?? []).length;
const cases = count(/<testcase /g) + missing.length;
const failed = count(/<failure/g) + count(/<error/g) + missing.length;
const skipped = count(/<skipped/g);
console.log(`\n${cases - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
