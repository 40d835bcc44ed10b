/**
 * Measures ingest throughput by batch size, to pick INGEST_BATCH_SIZE.
 *
 *   node -r ./scripts/register-ts.js scripts/bench/ingest-batch-size.ts [postgres://...admin-url]
 *
 * Uses the admin URL's server (default: a new embedded PostgreSQL in a
 * temporary directory) and creates a database of its own. Two measurements
 * per batch size, with ~150-byte JSON payloads, 20 services and 3 event types:
 *   writer: EventWriter alone, one batch after another on one connection
 *           (COPY into staging + merge + commit), i.e. the database's part;
 *   stream: the real server in this process, one IngestStream of messages of
 *           500 events, i.e. decoding + validation + COPY encoding + writing
 *           (the client shares this process's core).
 * Prints events/s per batch size; numbers are for comparing sizes on one
 * machine, not absolute. BENCH_SIZES, BENCH_WRITER_EVENTS and
 * BENCH_STREAM_EVENTS change the sizes and counts (see CONTRIBUTING.md).
 */
import os from 'node:os';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { loadConfig } from '../../src/config/load-config';
import type { ValidEvent } from '../../src/domain/ingest/ingest-event';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import { AdminService } from '../../src/domain/tenants/admin-service';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { IngestServiceClient, type IngestStreamResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { startVault } from '../../src/main';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { createPool } from '../../src/storage/create-pool';
import { EventWriter } from '../../src/storage/event-writer';
import { runMigrations } from '../../src/storage/run-migrations';
import { TenantRepository } from '../../src/storage/tenant-repository';
import { openBenchDatabase } from './bench-database';

const SIZES = (process.env.BENCH_SIZES ?? '100,250,500,1000,2000,5000').split(',').map(Number);
const WRITER_EVENTS = Number(process.env.BENCH_WRITER_EVENTS ?? 100_000);
const STREAM_EVENTS = Number(process.env.BENCH_STREAM_EVENTS ?? 100_000);
const MESSAGE_EVENTS = 500;
const TYPES = ['log', 'metric', 'trace'];
const silent = pino({ level: 'silent' });

let counter = 0;
function rawEvent(): Event {
  const i = counter++;
  const nowMs = Date.now() - 1000;
  return {
    eventId: `bench-${process.pid}-${i}-${'x'.repeat(8)}`,
    timestamp: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1e6 },
    eventType: TYPES[i % 3]!,
    serviceName: `service-${i % 20}`,
    payloadJson: JSON.stringify({ level: 'info', message: `request handled in ${i % 1000} ms`, route: '/api/v1/orders', status: 200, user: `u-${i % 5000}`, trace: 'abcdef0123456789' }),
    receivedAt: undefined,
  };
}

/** The server's settings for a database URL and batch size, limits lifted. */
function serverConfig(url: string, batchSize: number): ReturnType<typeof loadConfig> {
  return loadConfig({
    DATABASE_URL: url,
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    GRPC_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    INGEST_BATCH_SIZE: String(batchSize),
    RATE_LIMIT_EVENTS_PER_SECOND: '100000000',
    RATE_LIMIT_EVENT_BURST: '100000000',
  });
}

async function benchWriter(url: string, tenantId: string, size: number): Promise<number> {
  const config = serverConfig(url, size);
  const pool = createPool(url, { ...config.database.pool, max: 1 }, silent);
  // One write at a time on one connection: group commit never has company to take.
  const writer = new EventWriter(pool, {
    statementTimeoutMs: 60_000,
    concurrency: 1,
    lingerMs: 0,
    groupMaxEvents: config.ingestWrite.groupMaxEvents,
    groupMaxBytes: config.ingestWrite.groupMaxBytes,
    queueMaxBytes: config.ingestWrite.queueMaxBytes,
    maxWaitMs: 60_000,
  });
  const validator = new EventValidator(config.ingest);
  const valid = (): ValidEvent => {
    const event = validator.validate(rawEvent());
    if (typeof event === 'string') throw new Error(`a bench event was rejected: ${event}`);
    return event;
  };
  try {
    const batches: ValidEvent[][] = [];
    for (let made = 0; made < WRITER_EVENTS; made += size) batches.push(Array.from({ length: Math.min(size, WRITER_EVENTS - made) }, valid));
    const signal = new AbortController().signal;
    const started = process.hrtime.bigint();
    for (const batch of batches) await writer.write(tenantId, batch, { signal, deadline: undefined });
    return WRITER_EVENTS / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await pool.end();
  }
}

async function benchStream(url: string, key: string, size: number): Promise<number> {
  const vault = await startVault(serverConfig(url, size), silent);
  const client = new IngestServiceClient(`127.0.0.1:${vault.grpcPort}`, credentials.createInsecure());
  try {
    const messages: { events: Event[] }[] = [];
    for (let made = 0; made < STREAM_EVENTS; made += MESSAGE_EVENTS) messages.push({ events: Array.from({ length: MESSAGE_EVENTS }, rawEvent) });
    const metadata = new Metadata();
    metadata.set('x-api-key', key);
    const started = process.hrtime.bigint();
    const response = await new Promise<IngestStreamResponse>((resolve, reject) => {
      const call = client.ingestStream(metadata, (error: ServiceError | null, r: IngestStreamResponse) => (error ? reject(error) : resolve(r)));
      void (async () => {
        for (const message of messages) if (!call.write(message)) await new Promise((drained) => call.once('drain', drained));
        call.end();
      })();
    });
    const rate = STREAM_EVENTS / (Number(process.hrtime.bigint() - started) / 1e9);
    if (response.accepted !== STREAM_EVENTS) throw new Error(`accepted ${response.accepted}`);
    return rate;
  } finally {
    client.close();
    await vault.shutdown();
  }
}

async function main(): Promise<void> {
  const database = await openBenchDatabase({ adminUrl: process.argv[2], adminUrlSource: 'the admin URL given', log: (line) => console.error(line) });
  try {
    await runMigrations(database.url, silent);
    const pool = createPool(database.url, { max: 4, idleTimeoutMs: 30_000, connectionTimeoutMs: 5000, maxWaiting: 10 }, silent);
    try {
      const adminService = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
      const tenant = await adminService.createTenant({ name: 'bench', callsPerMinute: undefined, eventsPerSecond: undefined, eventBurst: undefined });
      const { key } = await adminService.createKey(tenant.id);
      const version = (await pool.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
      console.log(`PostgreSQL ${version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
      console.log('batch size | writer events/s | stream events/s');
      for (const size of SIZES) {
        await pool.query('TRUNCATE events');
        const writer = await benchWriter(database.url, tenant.id, size);
        await pool.query('TRUNCATE events');
        const stream = await benchStream(database.url, key, size);
        console.log(`${String(size).padStart(10)} | ${Math.round(writer).toString().padStart(15)} | ${Math.round(stream).toString().padStart(16)}`);
      }
    } finally {
      await pool.end();
    }
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
