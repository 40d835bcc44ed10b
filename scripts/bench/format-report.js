'use strict';
/** The benchmark's report as markdown tables, with the targets of the performance issue checked against the figures. */

const TARGETS = {
  ceilingRatio: 0.5,
  naiveRatio: 3,
  p99AckMs: 100,
  peakRssMiB: 300,
  cursorP95Ms: 10,
  deepCursorRatio: 1.5,
  streamEventsPerSecond: 50_000,
  sdkRatio: 0.9,
  aggregateMs: 1000,
};

const round = (value) => Math.round(value).toLocaleString('en-US');
const fixed = (value, digits = 1) => (value === null || value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));
const ratio = (value) => `${value.toFixed(2)}x`;
const check = (ok) => (ok ? 'yes' : '**no**');

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function ingestSection(report) {
  const ceiling = Math.max(...report.ingest.filter((s) => s.path === 'ceiling').map((s) => s.eventsPerSecond));
  const naive = Math.max(...report.ingest.filter((s) => s.path === 'naive').map((s) => s.eventsPerSecond));
  const rows = report.ingest.map((s) => [
    s.label,
    round(s.eventsPerSecond),
    ratio(s.eventsPerSecond / ceiling),
    ratio(s.eventsPerSecond / naive),
    s.path === 'vault' || s.path === 'sdk' ? fixed(s.serverCpuSecondsPerMillion) : '',
    s.path === 'vault' || s.path === 'sdk' ? fixed(s.serverPeakRssMiB, 0) : '',
  ]);
  const latencyRows = report.latency.map((l) => [
    `${l.batch} events`,
    `${round(l.targetEventsPerSecond)} (${round(l.achievedEventsPerSecond)} achieved)`,
    fixed(l.latencyMs.p50),
    fixed(l.latencyMs.p95),
    fixed(l.latencyMs.p99),
    Object.entries(l.codes)
      .map(([code, count]) => `${code} ${count}`)
      .join(', '),
  ]);
  return [
    `### Ingest (events/s, median of ${report.sizes.rounds} round${report.sizes.rounds > 1 ? 's' : ''}; ratios to the best ceiling, ${round(ceiling)}/s, and the best naive run, ${round(naive)}/s)`,
    '',
    table(['path', 'events/s', 'vs ceiling', 'vs naive', 'server CPU s per 1M events', 'server peak RSS MiB'], rows),
    '',
    '### Acknowledgement latency per message (unary Ingest, open loop, at 50% of the vault\'s peak rate for that message size)',
    '',
    table(['message', 'events/s', 'p50 ms', 'p95 ms', 'p99 ms', 'codes'], latencyRows),
  ].join('\n');
}

function querySection(report) {
  const { query } = report;
  const pageRows = Object.entries(query.pages).map(([label, s]) => [label, fixed(s.p50, 2), fixed(s.p95, 2), String(s.count)]);
  const streamRows = Object.entries(query.stream).map(([label, s]) => [`StreamEvents, ${label}`, round(s.eventsPerSecond)]);
  return [
    `### Query (${round(query.tenantEvents)} events in the tenant, ${query.otherTenants} other tenants with ${round(query.otherTenantEvents)} each around it; pages of 100)`,
    '',
    table(['query', 'p50 ms', 'p95 ms', 'samples'], [...pageRows, [`Aggregate by type, service and 1-hour bucket (${query.aggregate.rows} rows)`, fixed(query.aggregate.p50, 1), fixed(query.aggregate.p95, 1), String(query.aggregate.count)]]),
    '',
    table(['stream', 'events/s'], streamRows),
  ].join('\n');
}

function targetsSection(report) {
  const rows = [];
  if (report.ingest) {
    const best = (path, filter = () => true) => Math.max(...report.ingest.filter((s) => s.path === path && filter(s)).map((s) => s.eventsPerSecond));
    const vault = best('vault');
    const vaultJson = best('vault', (s) => s.payload === 'json');
    const ceiling = best('ceiling');
    const naive = best('naive');
    rows.push([`vault >= ${TARGETS.ceilingRatio * 100}% of the PostgreSQL ceiling`, `${round(vault)} / ${round(ceiling)} = ${ratio(vault / ceiling)}`, check(vault / ceiling >= TARGETS.ceilingRatio)]);
    rows.push([`vault >= ${TARGETS.naiveRatio}x the naive baseline`, `${round(vault)} / ${round(naive)} = ${ratio(vault / naive)}`, check(vault / naive >= TARGETS.naiveRatio)]);
    if (vaultJson !== vault) rows.push(['(payload_json alone)', `${round(vaultJson)}`, '']);
    const sdk = report.ingest.find((s) => s.path === 'sdk');
    const sdkBaseline = sdk && report.ingest.find((s) => s.label === sdk.baseline);
    if (sdk && sdkBaseline) {
      const sdkRatio = sdk.eventsPerSecond / sdkBaseline.eventsPerSecond;
      rows.push([`${sdk.label} >= ${TARGETS.sdkRatio}x the raw generated client (${sdkBaseline.label})`, `${round(sdk.eventsPerSecond)} / ${round(sdkBaseline.eventsPerSecond)} = ${ratio(sdkRatio)}`, check(sdkRatio >= TARGETS.sdkRatio)]);
    }
    const latency1000 = report.latency.find((l) => l.batch === 1000);
    if (latency1000) rows.push([`p99 acknowledgement <= ${TARGETS.p99AckMs} ms at half load, 1000-event messages`, `${fixed(latency1000.latencyMs.p99)} ms`, check(latency1000.latencyMs.p99 <= TARGETS.p99AckMs)]);
    const rss16 = Math.max(...report.ingest.filter((s) => s.streams === 16).map((s) => s.serverPeakRssMiB));
    rows.push([`server peak RSS <= ${TARGETS.peakRssMiB} MB with 16 streams`, `${fixed(rss16, 0)} MiB`, check(rss16 <= TARGETS.peakRssMiB)]);
  }
  if (report.query) {
    const cursor = Object.entries(report.query.pages).filter(([label]) => label.startsWith('cursor'));
    const worstP95 = Math.max(...cursor.map(([, s]) => s.p95));
    rows.push([`cursor page p95 <= ${TARGETS.cursorP95Ms} ms at every depth`, `worst ${fixed(worstP95, 2)} ms`, check(worstP95 <= TARGETS.cursorP95Ms)]);
    const [, shallow] = cursor[0];
    const [deepLabel, deep] = cursor[cursor.length - 1];
    rows.push([`deepest cursor page within ${TARGETS.deepCursorRatio}x of page 1 (p95)`, `${deepLabel}: ${ratio(deep.p95 / shallow.p95)}`, check(deep.p95 / shallow.p95 <= TARGETS.deepCursorRatio)]);
    const stream = Math.max(...Object.values(report.query.stream).map((s) => s.eventsPerSecond));
    rows.push([`StreamEvents >= ${round(TARGETS.streamEventsPerSecond)} events/s`, `${round(stream)}`, check(stream >= TARGETS.streamEventsPerSecond)]);
    rows.push([`Aggregate over the tenant <= ${TARGETS.aggregateMs} ms (p50)`, `${fixed(report.query.aggregate.p50, 0)} ms`, check(report.query.aggregate.p50 <= TARGETS.aggregateMs)]);
  }
  return ['### Targets', '', table(['target', 'measured', 'met'], rows)].join('\n');
}

function machineSection(report) {
  const { machine } = report;
  const pgSettings = Object.entries(machine.postgres)
    .filter(([name]) => name !== 'version')
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
  return [
    `Machine: ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.os}, Node.js ${machine.node}; server, database and load generator share it.`,
    `PostgreSQL: ${machine.postgres.version.split(',')[0]} (${pgSettings}).`,
    `Vault: INGEST_BATCH_SIZE=${machine.vault.batchSize}, INGEST_FLUSH_INTERVAL=${machine.vault.flushIntervalMs}ms, DB_POOL_MAX=${machine.vault.poolMax}, QUERY_STREAM_CHUNK_SIZE=${machine.vault.streamChunkSize}.`,
  ].join('\n');
}

/** The whole report as markdown. */
function formatReport(report) {
  const sections = [`## Benchmark (${report.mode}, ${report.startedAt})`, '', machineSection(report)];
  if (report.ingest) sections.push('', ingestSection(report));
  if (report.query) sections.push('', querySection(report));
  sections.push('', targetsSection(report), '');
  return `${sections.join('\n')}\n`;
}

module.exports = { formatReport };
