import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'api/test/**/*.test.ts',
      'scripts/test/**/*.test.ts',
      'postgres/test/**/*.test.ts',
      'traefik/test/**/*.test.ts',
      'monitoring/*/test/**/*.test.ts',
    ],
    globalSetup: ['scripts/test/tools-setup.ts', 'api/test/helpers/global-setup.ts'],
    // One throwaway PostgreSQL per run is shared by all files; each file works in its own database.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default', 'junit'],
    outputFile: { junit: 'reports/junit.xml' },
    // With --coverage (the Jenkinsfile's tests stage, .ci/run): reports/coverage/cobertura-coverage.xml, which
    // Jenkins publishes (recordCoverage), and a summary at the end of the run.
    coverage: {
      provider: 'v8',
      include: ['api/src/**/*.ts', 'scripts/**/*.ts', 'monitoring/*/src/**/*.ts'],
      exclude: ['api/src/generated/**', '**/test/**'],
      reporter: ['text-summary', 'cobertura'],
      reportsDirectory: 'reports/coverage',
    },
  },
});
