#!/usr/bin/env node
'use strict';
/**
 * `npm run bench` (and `npm run bench -- --quick`): ingest and query speed of
 * the vault against PostgreSQL's own ceiling and the naive approach, all in
 * one run, on one database. Three processes: this orchestrator (database
 * administration, sampling the server's CPU and memory, the report), the
 * vault server (`telemetry-vault serve`), and the load generator
 * (load-generator.js). See README, "Performance".
 *
 * Options: --quick (small sizes, one round, well under a minute),
 * --rounds N, --out FILE (the JSON report; default bench-results/<time>.json),
 * --only ingest|query. BENCH_DATABASE_URL: a PostgreSQL superuser URL to use
 * instead of a new embedded PostgreSQL (a database of its own is created in it
 * and dropped at the end).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork, spawn } = require('node:child_process');
const { parseArgs } = require('node:util');
const { randomBytes } = require('node:crypto');
const pg = require('pg');
const pino = require('pino');
const { TENANT_COUNT } = require('./event-shape');
const { formatReport } = require('./format-report');

const root = path.resolve(__dirname, '../..');
const dist = path.join(root, 'dist');
const { EmbeddedCluster } = require(`${dist}/storage/embedded-cluster`);
const { EMBEDDED_POSTGRES_SETTINGS } = require(`${dist}/storage/open-database`);
const { runMigrations } = require(`${dist}/storage/run-migrations`);
const { AdminService } = require(`${dist}/domain/tenants/admin-service`);
const { TenantRepository } = require(`${dist}/storage/tenant-repository`);
const { ApiKeyRepository } = require(`${dist}/storage/api-key-repository`);
const { CursorCodec } = require(`${dist}/domain/query/cursor-codec`);
const { queryScope } = require(`${dist}/domain/query/query-scope`);
const { validateEventFilter } = require(`${dist}/domain/query/validate-event-filter`);
const { loadConfig } = require(`${dist}/config/load-config`);

const SIZES = {
  full: {
    rounds: 3,
    ceilingEvents: 200_000,
    naiveEvents: 100_000,
    vaultEvents: 200_000,
    eventsPerCall: 20_000,
    latencySeconds: 10,
    queryTenantEvents: 1_000_000,
    otherTenantEvents: 100_000,
    cursorDepths: [1, 10, 100, 1000, 10_000],
    offsetDepths: [1, 10, 100, 1000],
    cursorSamples: 60,
    offsetSamples: 20,
    aggregateSamples: 5,
    streamRounds: 3,
  },
  quick: {
    rounds: 1,
    ceilingEvents: 20_000,
    naiveEvents: 10_000,
    vaultEvents: 20_000,
    eventsPerCall: 10_000,
    latencySeconds: 2,
    queryTenantEvents: 20_000,
    otherTenantEvents: 2_000,
    cursorDepths: [1, 10, 100],
    offsetDepths: [1, 10, 100],
    cursorSamples: 20,
    offsetSamples: 10,
    aggregateSamples: 3,
    streamRounds: 1,
  },
};
const CEILING_CONNECTIONS = [2, 4];
const NAIVE_CONNECTIONS = [1, 4];
const NAIVE_ROWS_PER_STATEMENT = 100;
const VAULT_STREAMS = [1, 4, 16];
const VAULT_BATCHES = [100, 1000];
const VAULT_PAYLOADS = ['json', 'struct'];
/** The Node.js client (clients/node), compared with the raw generated client at the same concurrency, 1000/message, payload_json. */
const SDK_INGESTERS = 4;
const SDK_BASELINE_LABEL = `vault, ${SDK_INGESTERS} streams, 1000/message, payload_json`;
const PAGE_LIMIT = 100;
const NO_LIMIT = '1000000000';
const silent = pino({ level: 'silent' });

function parseOptions() {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, out: { type: 'string' }, only: { type: 'string' } },
  });
  const sizes = { ...SIZES[values.quick ? 'quick' : 'full'] };
  if (values.rounds !== undefined) sizes.rounds = Number(values.rounds);
  if (!Number.isInteger(sizes.rounds) || sizes.rounds < 1) throw new Error('--rounds must be a whole number >= 1');
  if (values.only !== undefined && !['ingest', 'query'].includes(values.only)) throw new Error('--only must be ingest or query');
  const out = values.out ?? path.join(root, 'bench-results', `${new Date().toISOString().replace(/[:.]/g, '-')}${values.quick ? '-quick' : ''}.json`);
  return { quick: values.quick, sizes, out, only: values.only };
}

function log(line) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The database: a new embedded PostgreSQL (the server's own default settings), or BENCH_DATABASE_URL. */
async function openDatabase() {
  const name = `tv_bench_${process.pid}`;
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let cluster;
  let dataDir;
  if (adminUrl === undefined) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-bench-pg-'));
    cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: silent, settings: EMBEDDED_POSTGRES_SETTINGS });
    adminUrl = cluster.urlFor('postgres');
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    description: cluster ? `embedded PostgreSQL (embedded-postgres) in ${dataDir}` : 'BENCH_DATABASE_URL',
    close: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((error) => log(`dropping ${name} failed: ${error.message}`));
      await admin.end();
      if (cluster) {
        await cluster.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** The vault server as a child process; its CPU and memory are read from /proc. */
class VaultProcess {
  constructor(env) {
    this.child = spawn(process.execPath, [path.join(root, 'bin/telemetry-vault.js'), 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.stderr = '';
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    this.serving = new Promise((resolve, reject) => {
      let partial = '';
      const onData = (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          if (!line.includes('telemetry vault serving')) continue;
          this.child.stdout.off('data', onData);
          // The rest of the log is read and dropped, so that the pipe never fills.
          this.child.stdout.resume();
          resolve(JSON.parse(line));
        }
      };
      this.child.stdout.on('data', onData);
      this.child.on('exit', (code) => reject(new Error(`the server exited with ${code}: ${this.stderr}`)));
    });
    this.clockTicks = 100;
  }

  /** User + system CPU seconds so far. */
  cpuSeconds() {
    const fields = fs.readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / this.clockTicks;
  }

  /** Resident memory now, in MiB. */
  rssMiB() {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  }

  /** Runs `work`, sampling RSS every 50 ms; resolves with its result, the CPU seconds spent and the peak RSS. */
  async measure(work) {
    let peak = this.rssMiB();
    const sampler = setInterval(() => (peak = Math.max(peak, this.rssMiB())), 50);
    const cpuBefore = this.cpuSeconds();
    try {
      const result = await work();
      return { result, cpuSeconds: this.cpuSeconds() - cpuBefore, peakRssMiB: Math.max(peak, this.rssMiB()) };
    } finally {
      clearInterval(sampler);
    }
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.on('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** The load generator process; `run(job, params)` resolves with the job's result. */
class LoadGenerator {
  constructor() {
    this.child = fork(path.join(__dirname, 'load-generator.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pending = new Map();
    this.nextId = 0;
    this.child.on('message', ({ id, result, error }) => {
      const pending = this.pending.get(id);
      this.pending.delete(id);
      if (error) pending.reject(new Error(error));
      else pending.resolve(result);
    });
    this.child.on('exit', (code) => {
      for (const pending of this.pending.values()) pending.reject(new Error(`the load generator exited with ${code}`));
    });
  }

  run(job, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, job, params });
    });
  }

  stop() {
    this.child.kill();
  }
}

async function createTenants(url) {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const admin = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
    const tenants = [];
    for (let i = 0; i < TENANT_COUNT; i++) {
      // Limits far above what the bench sends: it measures throughput, not the rate limiter's refusals.
      const tenant = await admin.createTenant({ name: `bench-${i}`, callsPerMinute: Number(NO_LIMIT), eventsPerSecond: Number(NO_LIMIT), eventBurst: Number(NO_LIMIT) });
      const key = await admin.createKey(tenant.id);
      tenants.push({ id: tenant.id, key: key.key });
    }
    return tenants;
  } finally {
    await pool.end();
  }
}

/** Empties events and checkpoints, so that every measurement starts from the same table. */
async function resetTable(db) {
  await db.query('TRUNCATE events');
  await db.query('CHECKPOINT').catch(() => undefined);
}

async function countEvents(db) {
  return Number((await db.query('SELECT count(*) AS n FROM events')).rows[0].n);
}

async function ingestPhase(context) {
  const { sizes, loadGenerator, vault, db, tenants, target } = context;
  const tenantIds = tenants.map((tenant) => tenant.id);
  const keys = tenants.map((tenant) => tenant.key);
  const scenarios = [
    ...CEILING_CONNECTIONS.map((connections) => ({ path: 'ceiling', label: `PostgreSQL ceiling, ${connections} connections`, connections, batch: context.serverBatchSize })),
    ...NAIVE_CONNECTIONS.map((connections) => ({ path: 'naive', label: `naive INSERT, ${connections} connection${connections > 1 ? 's' : ''}`, connections, batch: NAIVE_ROWS_PER_STATEMENT })),
    ...VAULT_PAYLOADS.flatMap((payload) =>
      VAULT_BATCHES.flatMap((batch) => VAULT_STREAMS.map((streams) => ({ path: 'vault', label: `vault, ${streams} stream${streams > 1 ? 's' : ''}, ${batch}/message, ${payload === 'json' ? 'payload_json' : 'payload (Struct)'}`, streams, batch, payload }))),
    ),
    { path: 'sdk', label: `SDK, ${SDK_INGESTERS} concurrent ingesters`, ingesters: SDK_INGESTERS, baseline: SDK_BASELINE_LABEL },
  ];
  const results = new Map(scenarios.map((scenario) => [scenario.label, { ...scenario, rounds: [] }]));
  for (let round = 0; round < sizes.rounds; round++) {
    for (const scenario of scenarios) {
      await resetTable(db);
      const run = `r${round}-${scenario.path}-${scenario.connections ?? scenario.streams}-${scenario.batch}-${scenario.payload ?? ''}`;
      let measured;
      if (scenario.path === 'ceiling') {
        measured = await vault.measure(() => loadGenerator.run('ceiling', { url: context.databaseUrl, run, count: sizes.ceilingEvents, batchSize: scenario.batch, tenantIds, connections: scenario.connections }));
      } else if (scenario.path === 'naive') {
        measured = await vault.measure(() => loadGenerator.run('naive', { url: context.databaseUrl, run, count: sizes.naiveEvents, rowsPerStatement: NAIVE_ROWS_PER_STATEMENT, tenantIds, connections: scenario.connections }));
      } else if (scenario.path === 'sdk') {
        measured = await vault.measure(() => loadGenerator.run('sdkIngest', { target, keys, run, ingesters: scenario.ingesters, count: sizes.vaultEvents }));
      } else {
        measured = await vault.measure(() => loadGenerator.run('vaultIngest', { target, keys, run, streams: scenario.streams, batch: scenario.batch, payload: scenario.payload, count: sizes.vaultEvents, eventsPerCall: sizes.eventsPerCall }));
      }
      const { result } = measured;
      const stored = await countEvents(db);
      const expected = result.events;
      if (stored !== expected || (result.codes && Object.keys(result.codes).some((code) => code !== 'OK'))) {
        throw new Error(`${scenario.label}: ${stored} rows stored for ${expected} events sent (codes ${JSON.stringify(result.codes ?? {})})`);
      }
      const eventsPerSecond = result.events / (result.elapsedMs / 1000);
      const entry = { eventsPerSecond, elapsedMs: result.elapsedMs, events: result.events };
      if (scenario.path === 'vault' || scenario.path === 'sdk') {
        Object.assign(entry, { serverCpuSecondsPerMillion: (measured.cpuSeconds / result.events) * 1e6, serverPeakRssMiB: measured.peakRssMiB, callLatencyMs: result.callLatencyMs });
      }
      results.get(scenario.label).rounds.push(entry);
      log(`round ${round + 1}/${sizes.rounds} ${scenario.label}: ${Math.round(eventsPerSecond)} events/s`);
    }
  }
  return [...results.values()].map((scenario) => {
    const summary = { ...scenario, eventsPerSecond: median(scenario.rounds.map((r) => r.eventsPerSecond)) };
    if (scenario.path === 'vault' || scenario.path === 'sdk') {
      summary.serverCpuSecondsPerMillion = median(scenario.rounds.map((r) => r.serverCpuSecondsPerMillion));
      summary.serverPeakRssMiB = Math.max(...scenario.rounds.map((r) => r.serverPeakRssMiB));
    }
    return summary;
  });
}

/** Acknowledgement latency per message (unary Ingest, open loop) at half the vault's peak rate for that message size. */
async function latencyPhase(context, ingest) {
  const { sizes, loadGenerator, vault, db, tenants, target } = context;
  const results = [];
  for (const batch of VAULT_BATCHES) {
    const peak = Math.max(...ingest.filter((s) => s.path === 'vault' && s.batch === batch).map((s) => s.eventsPerSecond));
    const rate = Math.round(peak / 2);
    await resetTable(db);
    const measured = await vault.measure(() =>
      loadGenerator.run('vaultLatency', { target, keys: tenants.map((t) => t.key), run: `latency-${batch}`, batch, payload: 'json', rate, durationMs: sizes.latencySeconds * 1000 }),
    );
    const { result } = measured;
    results.push({ batch, peakEventsPerSecond: peak, targetEventsPerSecond: rate, achievedEventsPerSecond: result.eventsPerSecond, latencyMs: result.callLatencyMs, codes: result.codes, serverPeakRssMiB: measured.peakRssMiB });
    log(`latency at ${rate} events/s in messages of ${batch}: p50 ${result.callLatencyMs.p50} p95 ${result.callLatencyMs.p95} p99 ${result.callLatencyMs.p99} ms`);
  }
  return results;
}

/** Keyset positions (newest first) of the query tenant's rows from `offset`, `count` of them. */
async function positions(db, tenantId, offset, count) {
  const rows = await db.query(
    `SELECT (extract(epoch FROM "timestamp") * 1000000)::bigint::text AS us, event_id FROM events WHERE tenant_id = $1 ORDER BY "timestamp" DESC, event_id DESC OFFSET $2 LIMIT $3`,
    [tenantId, offset, count],
  );
  return rows.rows.map((row) => ({ timestampUs: BigInt(row.us), eventId: row.event_id }));
}

async function queryPhase(context) {
  const { sizes, loadGenerator, db, tenants, target, cursorSecret, queryLimits } = context;
  const [queryTenant, ...others] = tenants;
  await resetTable(db);
  log(`loading ${sizes.queryTenantEvents} events into one tenant and ${sizes.otherTenantEvents} into each of ${others.length} others`);
  await loadGenerator.run('loadEvents', { url: context.databaseUrl, run: 'query', count: sizes.queryTenantEvents, tenantId: queryTenant.id, connections: 2 });
  for (const [i, tenant] of others.entries()) {
    await loadGenerator.run('loadEvents', { url: context.databaseUrl, run: `other${i}`, count: sizes.otherTenantEvents, tenantId: tenant.id, connections: 2 });
  }
  await db.query('VACUUM (ANALYZE) events');
  await db.query('CHECKPOINT').catch(() => undefined);

  // Cursors for pages deep in the tenant, made as the server makes them: the
  // same codec, key and scope (no filter, newest first).
  const codec = new CursorCodec(Buffer.from(cursorSecret, 'utf8'));
  const scope = queryScope(validateEventFilter(undefined, queryLimits), 'newest-first');
  const cases = [];
  const pagesPerDepth = Math.min(30, sizes.cursorSamples);
  for (const depth of sizes.cursorDepths) {
    const firstPage = Math.max(1, depth - pagesPerDepth + 1);
    const from = Math.max(0, (firstPage - 1) * PAGE_LIMIT - 1);
    const rows = await positions(db, queryTenant.id, from, (depth - 1) * PAGE_LIMIT - from + 1);
    const requests = [];
    const firstEventIds = [];
    for (let page = firstPage; page <= depth; page++) {
      const firstRow = (page - 1) * PAGE_LIMIT - from;
      const cursor = page === 1 ? '' : codec.encode(queryTenant.id, scope, rows[firstRow - 1]);
      requests.push({ limit: PAGE_LIMIT, cursor, order: 1 });
      firstEventIds.push(rows[firstRow].eventId);
    }
    cases.push({ label: `cursor page ${depth}`, method: 'queryEvents', requests, firstEventIds });
  }
  for (const depth of sizes.offsetDepths) {
    const [first] = await positions(db, queryTenant.id, (depth - 1) * PAGE_LIMIT, 1);
    cases.push({ label: `offset page ${depth}`, method: 'queryEvents', requests: [{ limit: PAGE_LIMIT, page: depth, order: 1 }], firstEventIds: [first.eventId] });
  }
  const pages = await loadGenerator.run('timedQueries', { target, key: queryTenant.key, cases: cases.filter((c) => c.label.startsWith('cursor')), samples: sizes.cursorSamples });
  Object.assign(pages, await loadGenerator.run('timedQueries', { target, key: queryTenant.key, cases: cases.filter((c) => c.label.startsWith('offset')), samples: sizes.offsetSamples }));
  for (const [label, summary] of Object.entries(pages)) log(`${label}: p50 ${summary.p50} p95 ${summary.p95} ms`);

  const aggregate = await loadGenerator.run('timedQueries', {
    target,
    key: queryTenant.key,
    cases: [{ label: 'aggregate', method: 'aggregate', requests: [{ groupBy: [1, 2], bucket: { seconds: 3600, nanos: 0 } }] }],
    samples: sizes.aggregateSamples,
  });
  log(`Aggregate by type, service and hour: p50 ${aggregate.aggregate.p50} ms, ${aggregate.aggregate.rows} rows`);

  const stream = {};
  for (const payloadAsJson of [false, true]) {
    const rounds = [];
    for (let round = 0; round < sizes.streamRounds; round++) {
      rounds.push(await loadGenerator.run('streamEvents', { target, key: queryTenant.key, payloadAsJson, expectedEvents: sizes.queryTenantEvents }));
    }
    const label = payloadAsJson ? 'payload_json' : 'payload (Struct)';
    stream[label] = { eventsPerSecond: median(rounds.map((r) => r.eventsPerSecond)), rounds };
    log(`StreamEvents (${label}): ${Math.round(stream[label].eventsPerSecond)} events/s`);
  }
  return { tenantEvents: sizes.queryTenantEvents, otherTenants: others.length, otherTenantEvents: sizes.otherTenantEvents, pages, aggregate: aggregate.aggregate, stream };
}

async function describeMachine(db, vaultEnv) {
  const setting = async (name) => (await db.query(`SELECT current_setting($1) AS value`, [name])).rows[0].value;
  const postgres = { version: (await db.query('SELECT version()')).rows[0].version };
  for (const name of ['shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_wal_size', 'checkpoint_timeout', 'synchronous_commit', 'fsync', 'wal_compression', 'max_connections']) {
    postgres[name] = await setting(name);
  }
  const cpus = os.cpus();
  const config = loadConfig(vaultEnv);
  return {
    cpu: `${cpus[0]?.model ?? 'unknown'} x ${cpus.length}`,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
    vault: { batchSize: config.ingest.batchSize, flushIntervalMs: config.ingest.flushIntervalMs, poolMax: config.database.pool.max, streamChunkSize: config.query.streamChunkSize },
  };
}

async function main() {
  const options = parseOptions();
  const startedAt = Date.now();
  log(`${options.quick ? 'quick' : 'full'} run, ${options.sizes.rounds} round(s)`);
  const database = await openDatabase();
  let vault;
  let loadGenerator;
  let db;
  try {
    log(`database: ${database.description}`);
    await runMigrations(database.url, silent);
    const tenants = await createTenants(database.url);
    const cursorSecret = randomBytes(24).toString('base64url');
    const vaultEnv = {
      DATABASE_URL: database.url,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      QUERY_CURSOR_SECRET: cursorSecret,
      // Lifted for the bench only, to time deep offset pages.
      QUERY_MAX_PAGE: '100000',
    };
    vault = new VaultProcess(vaultEnv);
    const serving = await vault.serving;
    const target = `127.0.0.1:${serving.grpcPort}`;
    loadGenerator = new LoadGenerator();
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const config = loadConfig(vaultEnv);
    const context = { sizes: options.sizes, loadGenerator, vault, db, tenants, target, databaseUrl: database.url, serverBatchSize: config.ingest.batchSize, cursorSecret, queryLimits: config.query };
    const report = { startedAt: new Date(startedAt).toISOString(), mode: options.quick ? 'quick' : 'full', sizes: options.sizes, machine: await describeMachine(db, vaultEnv) };
    if (options.only !== 'query') {
      report.ingest = await ingestPhase(context);
      report.latency = await latencyPhase(context, report.ingest);
      report.serverPeakRssMiB = report.ingest.concat(report.latency).reduce((peak, s) => Math.max(peak, s.serverPeakRssMiB ?? 0), 0);
    }
    if (options.only !== 'ingest') report.query = await queryPhase(context);
    report.seconds = Math.round((Date.now() - startedAt) / 1000);
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(formatReport(report));
    log(`JSON report: ${path.relative(process.cwd(), options.out)}; ${report.seconds} s in all`);
  } finally {
    await db?.end();
    loadGenerator?.stop();
    await vault?.stop();
    await database.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
