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
// A test case counts once, however many errors it reported (a timed-out test may report two).
const testCases = xml.split(/<testcase /).slice(1);
const cases = testCases.length + missing.length;
const failed = testCases.filter((body) => /<(failure|error)\b/.test(body)).length + missing.length;
const skipped = testCases.filter((body) => /<skipped\b/.test(body)).length;
console.log(`\n${cases - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
