/**
 * `npm run bench:profile -- [--payload json|struct|otlp] [--events N] [--streams N] [--batch N] [--callers N] [--node-arg=--flag]...`:
 * one ingest scenario of the bench (streams, or with --callers N that many
 * callers of unary calls of --batch events for 10 s) against a vault started with --cpu-prof,
 * then the server's CPU per million events and its hottest functions (self
 * time, from the .cpuprofile that Node writes at exit). Profile before
 * optimising: this is the tool behind docs/performance.md's CPU figures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { runMigrations } from '../../src/storage/run-migrations';
import { createBenchTenants, openBenchDatabase } from './bench-database';
import type { PayloadMode } from './event-shape';
import { LoadGenerator } from './load-generator-process';
import { VaultProcess } from './vault-process';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time by function (name and file:line), largest first, as shares of the busy (not idle) samples. */
function hottest(profile: CpuProfile, top: number): string[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const frame = byNode.get(id)!.callFrame;
    const file = frame.url.replace(/^file:\/\//, '').replace(`${path.resolve(__dirname, '../..')}/`, '');
    const key = `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + delta);
    if (frame.functionName !== '(idle)') total += delta;
  });
  return [...selfMicros.entries()]
    .filter(([key]) => key !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, micros]) => `${((micros / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { payload: { type: 'string', default: 'json' }, events: { type: 'string', default: '200000' }, streams: { type: 'string', default: '4' }, batch: { type: 'string', default: '1000' }, top: { type: 'string', default: '40' }, callers: { type: 'string' }, 'node-arg': { type: 'string', multiple: true } },
  });
  const payload = values.payload as PayloadMode | 'otlp';
  const events = Number(values.events);
  const streams = Number(values.streams);
  const batch = Number(values.batch);
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-profile-'));
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log: (line) => process.stderr.write(`${line}\n`) });
  const loadGenerator = new LoadGenerator();
  let vault: VaultProcess | undefined;
  try {
    await runMigrations(database.url, pino({ level: 'silent' }));
    const keys = (await createBenchTenants(database.url, 'profile')).map((tenant) => tenant.key);
    vault = new VaultProcess({
      DATABASE_URL: database.url,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
    }, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...(values['node-arg'] ?? [])]);
    const target = `127.0.0.1:${(await vault.serving).grpcPort}`;
    const callers = values.callers === undefined ? undefined : Number(values.callers);
    const job = (run: string): Promise<{ events: number; elapsedMs: number }> =>
      callers !== undefined
        ? loadGenerator.run('vaultCallers', { target, keys, run, callers, batch, payload: payload === 'otlp' ? 'json' : payload, count: events, durationMs: 10_000 })
        : payload === 'otlp'
        ? loadGenerator.run('otlpIngest', { target, keys, run, streams, batch, count: events })
        : loadGenerator.run('vaultIngest', { target, keys, run, streams, batch, payload, count: events, eventsPerCall: 20_000 });
    await job('warmup');
    const measured = await vault.measure(() => job('profiled'));
    const { result } = measured;
    process.stdout.write(
      `${payload}, ${callers === undefined ? `${streams} streams` : `${callers} unary callers`}, ${batch}/message: ${result.events} events in ${result.elapsedMs} ms, ${Math.round(result.events / (result.elapsedMs / 1000))} events/s, server CPU ${((measured.cpuSeconds / result.events) * 1e6).toFixed(2)} s per million\n`,
    );
  } finally {
    loadGenerator.stop();
    await vault?.stop();
    await database.close();
  }
  const file = fs.readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${profileDir}`);
  const profile = JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')) as CpuProfile;
  process.stdout.write(`profile (warm-up and measured run): ${path.join(profileDir, file)}\n${hottest(profile, Number(values.top)).join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
