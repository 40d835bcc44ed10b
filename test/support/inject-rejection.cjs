'use strict';
/*
 * Preloaded (NODE_OPTIONS=--require) into a `telemetry-vault serve` process by
 * test/integration/unhandled-rejection.test.ts: on SIGUSR2, a promise rejects
 * with no handler, as a bug in the server would leave one.
 */
process.on('SIGUSR2', () => {
  void Promise.reject(new Error('a rejection no code handles, injected by the test'));
});
