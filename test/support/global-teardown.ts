/** Stops the run's PostgreSQL (see global-setup.ts). */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__TEST_POSTGRES__?.stop();
}
