'use strict';
/**
 * The two ingest baselines that talk to PostgreSQL directly (no gRPC), with
 * the bench's event shape and the server's own table:
 *
 *   ceiling: COPY text encoded before the clock starts, into the server's
 *            TEMP staging table, then the server's own merge (the exact
 *            statements of src/storage/event-writer.ts), one transaction per
 *            batch, on N connections in parallel: what the database itself
 *            takes on this machine;
 *   naive:   what the system design describes: batches of 100 events as one
 *            multi-row INSERT ... ON CONFLICT DO NOTHING each (autocommit),
 *            on N connections in parallel.
 *
 * Also loads the query data set (the ceiling's path, untimed).
 */
const path = require('node:path');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const pg = require('pg');
const { from: copyFrom } = require('pg-copy-streams');
const { benchEvent, toCopyRow } = require('./event-shape');

const dist = path.resolve(__dirname, '../../dist');
const { CREATE_STAGING, COPY_INTO_STAGING, MERGE, mergeArguments } = require(`${dist}/storage/event-writer`);

/**
 * Splits `count` events of `run` into batches of `batchSize`, each batch for
 * one tenant (round robin), dealt out to `connections` lanes.
 */
function dealBatches({ run, count, batchSize, tenantIds, connections, firstIndex = 0 }) {
  const lanes = Array.from({ length: connections }, () => []);
  for (let start = 0, batch = 0; start < count; start += batchSize, batch++) {
    const events = [];
    for (let i = start; i < Math.min(count, start + batchSize); i++) events.push(benchEvent(run, firstIndex + i));
    lanes[batch % connections].push({ tenantId: tenantIds[batch % tenantIds.length], events });
  }
  return lanes;
}

async function connectAll(url, count) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const client = new pg.Client({ connectionString: url, application_name: 'telemetry-vault-bench' });
    await client.connect();
    clients.push(client);
  }
  return clients;
}

/** Runs each lane on its own connection, all at once; resolves with the wall time in ms. */
async function timeLanes(clients, lanes, runLane) {
  const startedAt = performance.now();
  await Promise.all(lanes.map((lane, i) => runLane(clients[i], lane)));
  return performance.now() - startedAt;
}

/** One batch the server's way: COPY into staging, merge, commit. Resolves with how many rows the merge stored. */
async function copyAndMerge(client, tenantId, text) {
  await client.query('BEGIN');
  await pipeline(Readable.from([text]), client.query(copyFrom(COPY_INTO_STAGING)));
  const merged = await client.query(MERGE, mergeArguments([tenantId]));
  await client.query('COMMIT');
  return merged.rows.reduce((sum, row) => sum + Number(row.stored), 0);
}

/** The PostgreSQL ceiling: pre-encoded COPY + the server's merge. Returns { events, stored, elapsedMs }. */
async function runCeiling({ url, run, count, batchSize, tenantIds, connections }) {
  const lanes = dealBatches({ run, count, batchSize, tenantIds, connections }).map((lane) =>
    lane.map((batch) => ({ tenantId: batch.tenantId, text: Buffer.from(batch.events.map(toCopyRow).join('')) })),
  );
  const clients = await connectAll(url, connections);
  let stored = 0;
  try {
    for (const client of clients) await client.query(CREATE_STAGING);
    const elapsedMs = await timeLanes(clients, lanes, async (client, lane) => {
      for (const batch of lane) stored += await copyAndMerge(client, batch.tenantId, batch.text);
    });
    return { events: count, stored, elapsedMs };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

const NAIVE_COLUMNS = 6;

/** The naive baseline: multi-row INSERT ... ON CONFLICT DO NOTHING, `rowsPerStatement` rows each. Returns { events, stored, elapsedMs }. */
async function runNaive({ url, run, count, rowsPerStatement, tenantIds, connections }) {
  const statementFor = new Map();
  const textFor = (rows) => {
    if (!statementFor.has(rows)) {
      const tuples = Array.from({ length: rows }, (_, r) => `(${Array.from({ length: NAIVE_COLUMNS }, (_, c) => `$${r * NAIVE_COLUMNS + c + 1}`).join(', ')})`);
      statementFor.set(rows, `INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload) VALUES ${tuples.join(', ')} ON CONFLICT (tenant_id, event_id) DO NOTHING`);
    }
    return statementFor.get(rows);
  };
  const lanes = dealBatches({ run, count, batchSize: rowsPerStatement, tenantIds, connections }).map((lane) =>
    lane.map((batch) => ({
      text: textFor(batch.events.length),
      values: batch.events.flatMap((event) => [batch.tenantId, event.eventId, new Date(event.timestampMicros / 1000).toISOString(), event.eventType, event.serviceName, event.payloadJson]),
    })),
  );
  const clients = await connectAll(url, connections);
  let stored = 0;
  try {
    const elapsedMs = await timeLanes(clients, lanes, async (client, lane) => {
      for (const statement of lane) stored += (await client.query(statement.text, statement.values)).rowCount;
    });
    return { events: count, stored, elapsedMs };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

/**
 * Loads `count` events of `run` for one tenant, in slices so that memory stays
 * small, through the ceiling's path; `firstIndex` continues a run's numbering.
 */
async function loadEvents({ url, run, count, tenantId, connections, firstIndex = 0, slice = 100_000 }) {
  for (let done = 0; done < count; done += slice) {
    const size = Math.min(slice, count - done);
    const lanes = dealBatches({ run, count: size, batchSize: 5000, tenantIds: [tenantId], connections, firstIndex: firstIndex + done });
    const clients = await connectAll(url, connections);
    try {
      for (const client of clients) await client.query(CREATE_STAGING);
      await timeLanes(clients, lanes, async (client, lane) => {
        for (const batch of lane) await copyAndMerge(client, batch.tenantId, Buffer.from(batch.events.map(toCopyRow).join('')));
      });
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  }
}

module.exports = { runCeiling, runNaive, loadEvents };
