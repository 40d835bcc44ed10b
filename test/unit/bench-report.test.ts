import { formatReport, type BenchReport, type IngestScenario, type LatencyResult, type SdkComparison, type SdkComparisonRound, type SdkComparisonRun } from '../../scripts/bench/format-report';

const latency = (p99: number) => ({ count: 100, p50: p99 / 4, p95: p99 / 2, p99, max: p99 });

function scenario(path: IngestScenario['path'], label: string, eventsPerSecond: number, extra: Partial<IngestScenario> = {}): IngestScenario {
  return { path, label, batch: 1000, rounds: [], eventsPerSecond, ...extra };
}

function vault(streams: number, batch: number, payload: 'json' | 'struct', eventsPerSecond: number, cpu: number): IngestScenario {
  return scenario('vault', `vault, ${streams} streams, ${batch}/message, ${payload}`, eventsPerSecond, { streams, batch, payload, serverCpuSecondsPerMillion: cpu, serverPeakRssMiB: 150 });
}

function unaryLatency(batch: number, p99: number, codes: Record<string, number>): LatencyResult {
  return { batch, peakEventsPerSecond: 40_000, targetEventsPerSecond: 20_000, achievedEventsPerSecond: 20_000, latencyMs: latency(p99), codes, calls: 400, commits: 100, serverCpuSecondsPerMillion: 6, serverPeakRssMiB: 150 };
}

/** A report with a ceiling of 40 000 events/s; `overrides` change the parts a test is about. */
function report(overrides: Partial<BenchReport> = {}): BenchReport {
  return {
    startedAt: '2026-12-05T00:00:00.000Z',
    mode: 'quick',
    sizes: { rounds: 1 },
    machine: {
      cpu: 'test x 2',
      memoryGiB: 1,
      os: 'Linux',
      node: 'v20',
      postgres: { version: 'PostgreSQL 18.4, compiled' },
      vault: { batchSize: 2000, flushIntervalMs: 200, writeConcurrency: 4, groupLingerMs: 2, poolMax: 10, streamChunkSize: 500 },
    },
    ingest: [
      scenario('ceiling', 'PostgreSQL ceiling, 2 connections', 40_000),
      scenario('naive', 'naive INSERT, 4 connections', 20_000),
      vault(4, 1000, 'json', 36_000, 4.5),
      vault(16, 1000, 'json', 30_000, 6),
      vault(4, 1000, 'struct', 30_000, 7.5),
    ],
    latency: [unaryLatency(100, 80, { OK: 400 }), unaryLatency(1000, 90, { OK: 40 })],
    callers: { callers: 64, batch: 10, events: 100_000, stored: 100_000, eventsPerSecond: 24_000, latencyMs: latency(50), codes: { OK: 10_000 }, calls: 10_000, commits: 500, serverCpuSecondsPerMillion: 9, serverPeakRssMiB: 150 },
    ...overrides,
  };
}

/** The Targets table's row whose target starts with `start`, as [target, measured, met]. */
function targetRow(markdown: string, start: string): string[] {
  const targets = markdown.slice(markdown.indexOf('### Targets'));
  const line = targets.split('\n').find((row) => row.startsWith(`| ${start}`));
  if (line === undefined) throw new Error(`no target row starting with "${start}" in:\n${targets}`);
  return line.split(' | ').map((cell) => cell.replace(/^\| | \|$/g, ''));
}

describe('the bench report (scripts/bench/format-report.ts)', () => {
  test('when the figures meet issue 12 targets, then each of its rows says so with its ratio', () => {
    const markdown = formatReport(report());
    expect(targetRow(markdown, 'unary 100-event calls at half the streaming peak')).toEqual([
      expect.any(String),
      expect.stringContaining('p99 80.0 ms = 0.80x the target; OK 400; at 20,000 events/s = 0.50x the ceiling'),
      'yes',
    ]);
    expect(targetRow(markdown, 'unary 10-event calls from 64 concurrent callers')).toEqual([expect.any(String), '24,000 / 40,000 = 0.60x', 'yes']);
    expect(targetRow(markdown, 'server CPU <= 5 s per 1M events, payload_json')).toEqual([expect.any(String), '4.5 s = 0.90x the target (4.5-6.0 over all payload_json streaming rows)', 'yes']);
    expect(targetRow(markdown, 'server CPU <= 8 s per 1M events, payload (Struct)')).toEqual([expect.any(String), expect.stringContaining('7.5 s = 0.94x the target'), 'yes']);
    expect(targetRow(markdown, '4 streams of 1000-event messages (payload_json)')).toEqual([expect.any(String), '36,000 / 40,000 = 0.90x (Struct: 0.75x)', 'yes']);
  });

  test('when a 100-event unary call got UNAVAILABLE, then its row is not met although p99 is under 100 ms', () => {
    const markdown = formatReport(report({ latency: [unaryLatency(100, 80, { OK: 390, UNAVAILABLE: 10 })] }));
    expect(targetRow(markdown, 'unary 100-event calls at half the streaming peak')).toEqual([expect.any(String), expect.stringContaining('OK 390, UNAVAILABLE 10'), '**no**']);
  });

  test('when the figures miss issue 12 targets, then each of its rows says no', () => {
    const ingest = [scenario('ceiling', 'PostgreSQL ceiling, 2 connections', 40_000), scenario('naive', 'naive INSERT, 4 connections', 20_000), vault(4, 1000, 'json', 30_000, 12), vault(4, 1000, 'struct', 30_000, 14)];
    const callers = { ...report().callers!, eventsPerSecond: 4000 };
    const markdown = formatReport(report({ ingest, latency: [unaryLatency(100, 300, { OK: 400 })], callers }));
    for (const start of ['unary 100-event calls', 'unary 10-event calls', 'server CPU <= 5 s', 'server CPU <= 8 s', '4 streams of 1000-event messages']) {
      expect(targetRow(markdown, start)[2]).toBe('**no**');
    }
    expect(targetRow(markdown, 'unary 10-event calls')[1]).toBe('4,000 / 40,000 = 0.10x');
  });

  test('when OTLP rows ran, then the target compares them with the native payload_json path', () => {
    const ingest = [
      ...report().ingest!,
      scenario('otlp', 'OTLP logs over gRPC, 4 exporters, 512 records/request', 18_000, { streams: 4, batch: 512, serverCpuSecondsPerMillion: 30, serverPeakRssMiB: 160 }),
      scenario('otlp', 'OTLP logs over gRPC, 16 exporters, 512 records/request', 30_000, { streams: 16, batch: 512, serverCpuSecondsPerMillion: 32, serverPeakRssMiB: 170 }),
    ];
    const markdown = formatReport(report({ ingest }));
    expect(targetRow(markdown, 'OTLP logs over gRPC >= 0.8x the native payload_json path')).toEqual([expect.any(String), '30,000 / 36,000 = 0.83x', 'yes']);
  });

  test('when the unary rows of the OTLP row\'s shape ran, then a row under the OTLP target says what the call shape, the stored events and the receiver each cost', () => {
    const unary = (events: 'bench' | 'otlp', eventsPerSecond: number): IngestScenario =>
      scenario('unary', `vault, 16 unary callers, 512/call, ${events}`, eventsPerSecond, { streams: 16, batch: 512, payload: 'json', events, serverCpuSecondsPerMillion: 9, serverPeakRssMiB: 150 });
    const ingest = [
      ...report().ingest!,
      scenario('otlp', 'OTLP logs over gRPC, 4 exporters, 512 records/request', 20_000, { streams: 4, batch: 512, serverCpuSecondsPerMillion: 14, serverPeakRssMiB: 160 }),
      scenario('otlp', 'OTLP logs over gRPC, 16 exporters, 512 records/request', 24_000, { streams: 16, batch: 512, serverCpuSecondsPerMillion: 13, serverPeakRssMiB: 170 }),
      unary('bench', 28_800),
      unary('otlp', 25_200),
    ];
    const markdown = formatReport(report({ ingest }));
    // Native best payload_json: 36 000/s. The unary rows are not native streaming rows: the target still divides by 36 000.
    expect(targetRow(markdown, 'OTLP logs over gRPC >= 0.8x')).toEqual([expect.any(String), '24,000 / 36,000 = 0.67x', '**no**']);
    expect(targetRow(markdown, "(the OTLP gap: native unary Ingest calls of the OTLP row's shape, 16 callers x 512 events)")).toEqual([
      expect.any(String),
      "with the bench's events 0.80x the native path; with the events the OTLP row stores 0.70x; the OTLP row against those 0.95x",
      '',
    ]);
    expect(markdown).toContain('| vault, 16 unary callers, 512/call, otlp | 25,200 |');
  });

  test('when only some of the rows the OTLP gap needs ran, then no gap row is printed', () => {
    const ingest = [...report().ingest!, scenario('otlp', 'OTLP logs over gRPC, 16 exporters, 512 records/request', 24_000, { streams: 16, batch: 512 })];
    expect(formatReport(report({ ingest }))).not.toContain('(the OTLP gap');
  });

  test('when the SDK comparison ran, then its table shows the raw client, the SDK and the pre-encoded raw client, and its target judges `ratio` (the median of the rounds\' SDK/raw ratios)', () => {
    const run = (eventsPerSecond: number, clientCpuMicrosPerEvent: number): SdkComparisonRun => ({ eventsPerSecond, elapsedMs: 20_000_000 / eventsPerSecond, clientCpuMicrosPerEvent, serverCpuMicrosPerEvent: 5, calls: 4, messages: 20, commits: 10 });
    // SDK/raw per round: 0.80, 0.95, 0.92 (median 0.92, what run-bench puts in `ratio`); pre-encoded/raw: 1.10, 1.00, 1.25 (median 1.10).
    const rounds: SdkComparisonRound[] = [
      { first: 'raw', raw: run(50_000, 2), sdk: run(40_000, 5), preEncoded: run(55_000, 1) },
      { first: 'sdk', raw: run(20_000, 2), sdk: run(19_000, 5), preEncoded: run(20_000, 1) },
      { first: 'raw', raw: run(38_000, 2), sdk: run(34_960, 5), preEncoded: run(47_500, 1) },
    ];
    const sdk: SdkComparison = {
      ingesters: 4,
      events: 20_000,
      sdkLabel: 'SDK, 4 concurrent ingesters (default options)',
      rawLabel: 'raw generated client, 4 streams, 1000/message, payload_json',
      preEncodedLabel: 'raw generated client, messages encoded before the clock',
      rounds,
      rawEventsPerSecond: 38_000,
      sdkEventsPerSecond: 34_960,
      ratio: 0.92,
      preEncodedRatio: 0.74,
    };
    const markdown = formatReport(report({ sdk }));
    expect(targetRow(markdown, 'SDK, 4 concurrent ingesters (default options) >= 0.9x the raw generated client')).toEqual([
      expect.any(String),
      "34,960 / 38,000, per round 0.92x (against the raw client's messages encoded before its clock: 0.74x)",
      'yes',
    ]);
    const cells = (label: string): string[] | undefined => markdown.split('\n').find((line) => line.startsWith(`| ${label} |`))?.replace(/ \|$/, '').split(' | ').slice(1);
    expect(cells('SDK, 4 concurrent ingesters (default options)')).toEqual(['34,960', '0.92x', '5.0', '5.0', '4 / 20 / 10']);
    expect(cells('raw generated client, 4 streams, 1000/message, payload_json')).toEqual(['38,000', '1.00x', '2.0', '5.0', '4 / 20 / 10']);
    expect(cells('raw generated client, messages encoded before the clock')).toEqual(['47,500', '1.10x', '1.0', '5.0', '4 / 20 / 10']);
    expect(markdown).toContain('Rounds (SDK/raw): 0.80x, 0.95x, 0.92x; SDK/pre-encoded: 0.73x, 0.95x, 0.74x.');
    expect(formatReport(report({ sdk: { ...sdk, ratio: 0.85 } }))).toContain('per round 0.85x (against');
    expect(targetRow(formatReport(report({ sdk: { ...sdk, ratio: 0.85 } })), 'SDK, 4 concurrent ingesters (default options) >= 0.9x the raw generated client')[2]).toBe('**no**');
  });

  test('when no OTLP or SDK rows ran, then the targets have no rows for them', () => {
    const markdown = formatReport(report());
    expect(markdown).not.toContain('OTLP logs over gRPC >=');
    expect(markdown).not.toContain('the raw generated client');
  });

  test('when every ingest row has the database\'s CPU, then the ingest table shows it beside the server\'s; when one lacks it (PostgreSQL elsewhere), then the column is left out', () => {
    const base = report().ingest!;
    const withCpu = base.map((s, i) => ({ ...s, databaseCpuSecondsPerMillion: 20 + i }));
    const rowOf = (markdown: string, label: string) => markdown.split('\n').find((line) => line.startsWith(`| ${label} |`))?.split(' | ');
    const markdown = formatReport(report({ ingest: withCpu }));
    expect(markdown).toContain('| path | events/s | vs ceiling | vs naive | database CPU s per 1M events | server CPU s per 1M events | server peak RSS MiB |');
    expect(rowOf(markdown, 'PostgreSQL ceiling, 2 connections')?.[4]).toBe('20.0');
    expect(rowOf(markdown, 'vault, 16 streams, 1000/message, json')?.slice(4, 6)).toEqual(['23.0', '6.0']);
    const partial = formatReport(report({ ingest: [...withCpu.slice(1), base[0]!] }));
    expect(partial).toContain('| path | events/s | vs ceiling | vs naive | server CPU s per 1M events | server peak RSS MiB |');
    expect(partial).not.toContain('database CPU s per 1M events');
  });

  test('when the unary rows are reported, then they show calls per commit', () => {
    const markdown = formatReport(report());
    const callersRow = markdown.split('\n').find((line) => line.startsWith('| 64 x 10 events'));
    expect(callersRow?.split(' | ')[7]).toBe('20.0');
    const latencyRow = markdown.split('\n').find((line) => line.startsWith('| 100 events'));
    expect(latencyRow?.split(' | ')[6]).toBe('4.0');
  });

  test('when the unary capacity was measured after a latency row, then the row shows its rate as a share of it, and the 100-event target row says so; reports without it show a dash', () => {
    const measured = { ...unaryLatency(100, 300, { OK: 400 }), achievedEventsPerSecond: 20_000, unaryCapacity: { callers: 16, eventsPerSecond: 25_000 } };
    const markdown = formatReport(report({ latency: [measured, unaryLatency(1000, 90, { OK: 40 })] }));
    const rows = markdown.split('\n');
    expect(rows.find((line) => line.startsWith('| 100 events'))?.split(' | ')[8]).toBe('80% of 25,000/s, what 16 closed-loop callers of such calls reached |');
    expect(rows.find((line) => line.startsWith('| 1000 events'))?.split(' | ')[8]).toBe('- |');
    expect(rows.find((line) => line.startsWith('| unary 100-event calls at half the streaming peak'))).toContain('= 0.50x the ceiling and 80% of 25,000/s, what 16 closed-loop callers of such calls reached');
  });

  test('when a load sweep ran after the 100-event row, then the report shows its points and the highest share of the unary capacity at which p99 met the target, and the target row says how much more capacity the row needed', () => {
    const point = (share: number, p99: number, codes: Record<string, number> = { OK: 100 }) => ({ share, targetEventsPerSecond: 25_000 * share, achievedEventsPerSecond: 25_000 * share, latencyMs: latency(p99), codes });
    const swept = (loadSweep: LatencyResult['loadSweep']): string =>
      formatReport(report({ latency: [{ ...unaryLatency(100, 300, { OK: 400 }), unaryCapacity: { callers: 64, eventsPerSecond: 25_000 }, loadSweep }, unaryLatency(1000, 90, { OK: 40 })] }));
    const markdown = swept([point(0.5, 60), point(0.65, 95), point(0.8, 400)]);
    const rows = markdown.split('\n');
    expect(rows).toContain('### Load sweep: 100-event unary calls, open loop, at shares of the unary capacity (25,000/s), each after a 3 s warm-up that is not counted');
    expect(rows.find((line) => line.startsWith('| 65%'))).toBe('| 65% | 16,250 (16,250 achieved) | 23.8 | 47.5 | 95.0 | OK 100 |');
    // The row ran at 20 000/s = 80% of 25 000; p99 held up to 65%: 0.80 / 0.65 = 1.23x the capacity.
    const verdict = 'p99 <= 100 ms held up to 65% of the unary capacity (of 50%, 65%, 80%), so the row\'s rate needs 1.23x this run\'s unary capacity';
    expect(rows).toContain(`${verdict}. The latency row above ran at 80% of it.`);
    expect(targetRow(markdown, 'unary 100-event calls at half the streaming peak')[1]).toContain(`; ${verdict}`);
    // An UNAVAILABLE at a share ends what held, whatever its p99; a higher share that happened to pass does not count.
    expect(swept([point(0.5, 60), point(0.65, 95, { OK: 99, UNAVAILABLE: 1 }), point(0.8, 90)])).toContain('p99 <= 100 ms held up to 50% of the unary capacity (of 50%, 65%, 80%), so the row\'s rate needs 1.60x');
    expect(swept([point(0.5, 120)])).toContain('p99 <= 100 ms held at none of 50% of the unary capacity. The latency row above ran at 80% of it.');
    expect(swept([point(0.5, 60), point(0.8, 90)])).toContain('p99 <= 100 ms held up to 80% of the unary capacity (of 50%, 80%), a share the row\'s rate was within');
    expect(formatReport(report())).not.toContain('### Load sweep');
  });

  test('when the transport floor was measured, then the small-calls table and the target row show it against the ceiling', () => {
    const callers = { ...report().callers!, clientCpuMicrosPerCall: 160, floor: { eventsPerSecond: 30_000, calls: 3000, serverCpuMicrosPerCall: 70, clientCpuMicrosPerCall: 150 } };
    const markdown = formatReport(report({ callers }));
    const rowOf = (start: string): string[] | undefined => markdown.split('\n').find((line) => line.startsWith(start))?.replace(/ \|$/, '').split(' | ');
    // 9 CPU-s per 1M events at 10 events a call is 90 µs a call.
    expect(rowOf('| 64 x 10 events')?.slice(9, 11)).toEqual(['90', '160']);
    expect(rowOf('| floor: bare grpc-js server')?.slice(1, 3)).toEqual(['30,000', '0.75x']);
    expect(rowOf('| floor: bare grpc-js server')?.slice(9, 11)).toEqual(['70', '150']);
    expect(targetRow(markdown, 'unary 10-event calls from 64 concurrent callers')[1]).toBe('24,000 / 40,000 = 0.60x; the transport floor (bare grpc-js server, same callers) reached 0.75x');
    expect(formatReport(report())).not.toContain('floor: bare grpc-js server');
  });

  test('when the cores, the ceiling\'s database CPU and the floor are known, then the small-calls target row says what the machine allows at most and how much CPU per call the target leaves the vault', () => {
    const floor = { eventsPerSecond: 30_000, calls: 3000, serverCpuMicrosPerCall: 70, clientCpuMicrosPerCall: 150 };
    const base = report();
    const ingest = [scenario('ceiling', 'PostgreSQL ceiling, 2 connections', 40_000, { databaseCpuSecondsPerMillion: 20 }), scenario('ceiling', 'PostgreSQL ceiling, 4 connections', 30_000, { databaseCpuSecondsPerMillion: 5 }), ...base.ingest!.slice(1)];
    const measured = (overrides: Partial<BenchReport>): string => targetRow(formatReport(report({ ingest, callers: { ...base.callers!, floor }, ...overrides })), 'unary 10-event calls from 64 concurrent callers')[1]!;
    // Per event: 20 µs of PostgreSQL (the fastest ceiling's) + (70 + 150) / 10 of the floor = 42 µs; 2 cores: 2e6 / 42 = 47,619/s.
    // The target (0.5 x 40,000 = 20,000/s) gives 100 µs per event: 58 left, 580 per call. The vault's server: 9 µs x 10 - 70 = 20 µs more.
    expect(measured({ machine: { ...base.machine, cores: 2 } })).toBe(
      "24,000 / 40,000 = 0.60x; the transport floor (bare grpc-js server, same callers) reached 0.75x; with PostgreSQL at the ceiling's CPU per event (20.0 µs) and the floor's server and client CPU per call (70 + 150 µs), this machine's 2 cores allow at most 47,619/s = 1.19x the ceiling, and the target leaves the vault 580 µs of CPU per call beyond the bare server's (its server spent 20 µs more)",
    );
    // One core: 1e6 / 42 = 23,810/s, and 20,000/s leaves (50 - 42) x 10 = 80 µs a call; half a core leaves nothing.
    expect(measured({ machine: { ...base.machine, cores: 1 } })).toContain('1 core allows at most 23,810/s = 0.60x the ceiling, and the target leaves the vault 80 µs');
    expect(measured({ machine: { ...base.machine, cores: 0.5 } })).toContain('the target leaves the vault no CPU at all beyond the bare server');
    // Without the cores (a report from before they were recorded), or without the ceiling's database CPU (PostgreSQL elsewhere), there is no bound.
    expect(measured({})).toBe('24,000 / 40,000 = 0.60x; the transport floor (bare grpc-js server, same callers) reached 0.75x');
    expect(targetRow(formatReport(report({ callers: { ...base.callers!, floor }, machine: { ...base.machine, cores: 2 } })), 'unary 10-event calls from 64 concurrent callers')[1]).not.toContain('allow at most');
  });

  test('when followers were ended as slow consumers, then the live tail table says how many instead of the run failing', () => {
    const follow = {
      rate: 2000,
      batch: 100,
      latency: { events: 100, received: 100, achievedEventsPerSecond: 2000, commitToReceiptMs: latency(8), sendToReceiptMs: latency(20) },
      ingest: [
        { followers: 0, eventsPerSecond: 40_000, received: 0 },
        { followers: 50, eventsPerSecond: 25_000, received: 1000, cutOff: 3 },
      ],
    };
    const rowOf = (markdown: string): string | undefined => markdown.split('\n').find((line) => line.startsWith('| 50 followers'));
    expect(rowOf(formatReport(report({ follow })))).toBe('| 50 followers of one tenant and filter | 25000 | 0.63x | 1000 (47 followers); 3 ended as slow consumers (RESOURCE_EXHAUSTED) |');
    const allCut = { ...follow, ingest: [follow.ingest[0]!, { followers: 50, eventsPerSecond: 25_000, received: 0, cutOff: 50 }] };
    expect(rowOf(formatReport(report({ follow: allCut })))).toContain('| all 50 ended as slow consumers (RESOURCE_EXHAUSTED) |');
    const none = { ...follow, ingest: [follow.ingest[0]!, { followers: 50, eventsPerSecond: 25_000, received: 1000, cutOff: 0 }] };
    expect(rowOf(formatReport(report({ follow: none })))).toBe('| 50 followers of one tenant and filter | 25000 | 0.63x | 1000 |');
  });
});
