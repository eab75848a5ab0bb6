// Prints one closing line for the CI log from vitest's JUnit report: "N passed, N failed, N skipped".
import { readFileSync } from 'node:fs';

const xml = readFileSync(process.argv[2] ?? 'reports/junit.xml', 'utf8');
const count = (pattern) => (xml.match(pattern) ?? []).length;
const cases = count(/<testcase /g);
const failed = count(/<failure/g) + count(/<error/g);
const skipped = count(/<skipped/g);
console.log(`\n${cases - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
