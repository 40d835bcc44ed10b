#!/usr/bin/env node
/*
 * Measures ingest throughput by batch size, to pick INGEST_BATCH_SIZE.
 *
 *   npm run build && node scripts/bench/ingest-batch-size.js [postgres://...admin-url]
 *
 * Uses the admin URL's server (default: the embedded PostgreSQL the server
 * would start, in a temporary directory) and creates a database of its own.
 * Two measurements per batch size, with ~150-byte JSON payloads, 20 services
 * and 3 event types (the shape of performance-notes.md):
 *   writer: EventWriter alone, one batch after another on one connection
 *           (COPY into staging + merge + commit), i.e. the database's part;
 *   stream: the real server in this process, one IngestStream of messages of
 *           500 events, i.e. decoding + validation + COPY encoding + writing
 *           (the client shares this process's core).
 * Prints events/s per batch size; numbers are for comparing sizes on one
 * machine, not absolute.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const pg = require('pg');
const pino = require('pino');
const { credentials, Metadata } = require('@grpc/grpc-js');
const dist = path.resolve(__dirname, '../../dist');
const { EventWriter } = require(`${dist}/storage/event-writer`);
const { createPool } = require(`${dist}/storage/create-pool`);
const { runMigrations } = require(`${dist}/storage/run-migrations`);
const { EmbeddedCluster } = require(`${dist}/storage/embedded-cluster`);
const { EventValidator } = require(`${dist}/domain/ingest/event-validator`);
const { loadConfig } = require(`${dist}/config/load-config`);
const { startVault } = require(`${dist}/main`);
const { AdminService } = require(`${dist}/domain/tenants/admin-service`);
const { TenantRepository } = require(`${dist}/storage/tenant-repository`);
const { ApiKeyRepository } = require(`${dist}/storage/api-key-repository`);
const { IngestServiceClient } = require(`${dist}/gen/telemetry/v1/ingest_service`);

const SIZES = (process.env.BENCH_SIZES ?? '100,250,500,1000,2000,5000').split(',').map(Number);
const WRITER_EVENTS = Number(process.env.BENCH_WRITER_EVENTS ?? 100_000);
const STREAM_EVENTS = Number(process.env.BENCH_STREAM_EVENTS ?? 100_000);
const MESSAGE_EVENTS = 500;
const TYPES = ['log', 'metric', 'trace'];
const silent = pino({ level: 'silent' });

let counter = 0;
function rawEvent() {
  const i = counter++;
  const nowMs = Date.now() - 1000;
  return {
    eventId: `bench-${process.pid}-${i}-${'x'.repeat(8)}`,
    timestamp: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1e6 },
    eventType: TYPES[i % 3],
    serviceName: `service-${i % 20}`,
    payloadJson: JSON.stringify({ level: 'info', message: `request handled in ${i % 1000} ms`, route: '/api/v1/orders', status: 200, user: `u-${i % 5000}`, trace: 'abcdef0123456789' }),
    receivedAt: undefined,
  };
}

async function benchWriter(pool, tenantId, size) {
  const writer = new EventWriter(pool, { statementTimeoutMs: 60_000, cancelTimeoutMs: 2000 });
  const validator = new EventValidator({ maxPayloadBytes: 65536, maxPayloadDepth: 100, maxFutureSkewMs: 600_000 });
  const batches = [];
  for (let made = 0; made < WRITER_EVENTS; made += size) batches.push(Array.from({ length: Math.min(size, WRITER_EVENTS - made) }, () => validator.validate(rawEvent())));
  const signal = new AbortController().signal;
  const started = process.hrtime.bigint();
  for (const batch of batches) await writer.write(tenantId, batch, { signal, deadline: undefined });
  return WRITER_EVENTS / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function benchStream(adminUrlOfDb, key, size) {
  const config = loadConfig({ DATABASE_URL: adminUrlOfDb, GRPC_PORT: '0', HTTP_PORT: '0', GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', INGEST_BATCH_SIZE: String(size), RATE_LIMIT_EVENTS_PER_SECOND: '100000000', RATE_LIMIT_EVENT_BURST: '100000000' });
  const vault = await startVault(config, silent);
  const client = new IngestServiceClient(`127.0.0.1:${vault.grpcPort}`, credentials.createInsecure());
  const messages = [];
  for (let made = 0; made < STREAM_EVENTS; made += MESSAGE_EVENTS) messages.push({ events: Array.from({ length: MESSAGE_EVENTS }, rawEvent) });
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  const started = process.hrtime.bigint();
  const response = await new Promise((resolve, reject) => {
    const call = client.ingestStream(metadata, (error, r) => (error ? reject(error) : resolve(r)));
    (async () => {
      for (const message of messages) if (!call.write(message)) await new Promise((drained) => call.once('drain', drained));
      call.end();
    })();
  });
  const rate = STREAM_EVENTS / (Number(process.hrtime.bigint() - started) / 1e9);
  if (response.accepted !== STREAM_EVENTS) throw new Error(`accepted ${response.accepted}`);
  client.close();
  await vault.shutdown();
  return rate;
}

async function main() {
  let adminUrl = process.argv[2];
  let cluster;
  let dataDir;
  if (!adminUrl) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-bench-'));
    cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: silent });
    adminUrl = cluster.urlFor('postgres');
  }
  const name = `tv_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    await runMigrations(url.toString(), silent);
    const pool = createPool(url.toString(), { max: 4, idleTimeoutMs: 30_000, connectionTimeoutMs: 5000, maxWaiting: 10 }, silent);
    const adminService = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
    const tenant = await adminService.createTenant({ name: 'bench' });
    const { key } = await adminService.createKey(tenant.id);
    const version = (await pool.query('SHOW server_version')).rows[0].server_version;
    console.log(`PostgreSQL ${version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('batch size | writer events/s | stream events/s');
    for (const size of SIZES) {
      await pool.query('TRUNCATE events');
      const writer = await benchWriter(pool, tenant.id, size);
      await pool.query('TRUNCATE events');
      const stream = await benchStream(url.toString(), key, size);
      console.log(`${String(size).padStart(10)} | ${Math.round(writer).toString().padStart(15)} | ${Math.round(stream).toString().padStart(16)}`);
    }
    await pool.end();
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    if (cluster) {
      await cluster.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
