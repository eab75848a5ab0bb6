// `npm run test:e2e`: the lab end to end (lab/test/), apart from `npm test` (it needs a Docker engine and ~15 min).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['lab/test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ['default', 'junit'],
    outputFile: { junit: 'reports/junit-e2e.xml' },
  },
});
