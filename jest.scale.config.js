/**
 * Jest for the scale-out drill (`npm run test:scale`): the same transform and
 * run-wide PostgreSQL as jest.config.js, but only test/scale, one file at a
 * time (each file runs several servers, nginx, Redis, PgBouncer or a
 * replica of its own, and the machine has two cores), with long timeouts.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/scale'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 180_000,
  maxWorkers: 1,
};
