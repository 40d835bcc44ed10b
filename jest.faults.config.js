/**
 * Jest for the fault drills and floods (`npm run test:faults`): the same
 * transform and run-wide PostgreSQL as jest.config.js, but only test/faults,
 * one file at a time (the drills stop databases, kill servers and push load,
 * and measure rates and memory that parallel files would disturb), with
 * longer timeouts.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 300_000,
  maxWorkers: 1,
};
