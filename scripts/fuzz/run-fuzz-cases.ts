import { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import type { RequestDecoders } from '../../src/transport/grpc/wire/request-decoders';
import { BUG_OUTCOMES, isIngestRpc, type CallOutcome, type FuzzCase, type FuzzRpc, type Outcome, type TenantRole } from './fuzz-case';
import type { FuzzClient } from './fuzz-client';

/** The server under fuzzing, and how to look at what it stored. */
export interface FuzzTarget {
  readonly client: FuzzClient;
  readonly tenants: Readonly<Record<TenantRole, { readonly key: string; readonly tenantId: string }>>;
  /** Which of `eventIds` the tenant has stored (read from the events table). */
  storedIds(tenantId: string, eventIds: readonly string[]): Promise<Set<string>>;
  /** The server's own request decoders: what it read from the bytes is what must be stored. */
  readonly decoders: RequestDecoders;
  /** INGEST_REJECTED_EVENTS_LISTED: how many rejections a response lists. */
  readonly rejectedEventsListed: number;
}

export interface FuzzFailure {
  readonly caseName: string;
  readonly outcome: Outcome;
  readonly details: string;
  readonly problems: readonly string[];
}

/** Outcomes counted by RPC and kind, ingest counts, and every failed check. */
export class FuzzReport {
  calls = 0;
  eventsSent = 0;
  eventsStored = 0;
  slowestMs = 0;
  slowestCase = '';
  readonly outcomes = new Map<FuzzRpc, Map<Outcome, number>>();
  readonly kinds = new Map<string, number>();
  readonly failures: FuzzFailure[] = [];

  add(other: FuzzReport): void {
    this.calls += other.calls;
    this.eventsSent += other.eventsSent;
    this.eventsStored += other.eventsStored;
    if (other.slowestMs > this.slowestMs) [this.slowestMs, this.slowestCase] = [other.slowestMs, other.slowestCase];
    for (const [rpc, counts] of other.outcomes) for (const [outcome, count] of counts) this.count(rpc, outcome, count);
    for (const [kind, count] of other.kinds) this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + count);
    this.failures.push(...other.failures);
  }

  count(rpc: FuzzRpc, outcome: Outcome, by = 1): void {
    const counts = this.outcomes.get(rpc) ?? new Map<Outcome, number>();
    counts.set(outcome, (counts.get(outcome) ?? 0) + by);
    this.outcomes.set(rpc, counts);
  }

  /** A table of outcomes per RPC, the cases per kind, and the failures. */
  summary(): string {
    const lines = [`${this.calls} calls (${[...this.kinds].map(([kind, count]) => `${count} ${kind}`).join(', ')}); ${this.eventsSent} events sent in calls answered OK, ${this.eventsStored} of them checked stored; slowest call ${Math.round(this.slowestMs)} ms (${this.slowestCase.slice(0, 100)})`];
    for (const [rpc, counts] of [...this.outcomes].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`  ${rpc.padEnd(13)} ${[...counts].sort(([, a], [, b]) => b - a).map(([outcome, count]) => `${outcome} ${count}`).join(', ')}`);
    }
    lines.push(this.failures.length === 0 ? 'no failures' : `${this.failures.length} FAILURES:`);
    for (const failure of this.failures) lines.push(`  - ${failure.caseName.slice(0, 300)}\n    -> ${failure.outcome} ${failure.details.slice(0, 200)}\n    ${failure.problems.join('\n    ')}`);
    return lines.join('\n');
  }
}

export interface RunOptions {
  /** Calls in flight at once. */
  readonly concurrency: number;
  readonly defaultDeadlineMs?: number;
  /** Told after each case. */
  readonly onCase?: (done: number, report: FuzzReport) => void;
}

/**
 * Runs the cases and checks each: its outcome is one the case allows (never
 * INTERNAL or UNKNOWN), a BadRequest names the expected field, the server
 * still answers a health check as SERVING, and for ingest calls the counts add
 * up (accepted + duplicates + rejected = events sent) and every event the
 * server did not reject is in the events table.
 */
export async function runFuzzCases(cases: readonly FuzzCase[], target: FuzzTarget, options: RunOptions): Promise<FuzzReport> {
  const report = new FuzzReport();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const fuzzCase = cases[next++]!;
      const tenant = target.tenants[fuzzCase.tenant ?? 'fuzz'];
      const metadata = fuzzCase.metadata?.(tenant.key) ?? [['x-api-key', tenant.key] as const];
      const call = await target.client.call(fuzzCase.rpc, fuzzCase.messages, metadata, fuzzCase.deadlineMs ?? options.defaultDeadlineMs ?? 30_000, fuzzCase.raw);
      const problems = checkOutcome(fuzzCase, call);
      if (isIngestRpc(fuzzCase.rpc)) problems.push(...(await checkIngest(fuzzCase, call, target, report)));
      const health = await target.client.health();
      if (health !== 'SERVING') problems.push(`after the call the health check answered ${health}`);
      report.calls++;
      report.count(fuzzCase.rpc, call.outcome);
      report.kinds.set(fuzzCase.kind, (report.kinds.get(fuzzCase.kind) ?? 0) + 1);
      if (call.durationMs > report.slowestMs) [report.slowestMs, report.slowestCase] = [call.durationMs, fuzzCase.name];
      if (problems.length > 0) report.failures.push({ caseName: fuzzCase.name, outcome: call.outcome, details: call.details, problems });
      options.onCase?.(++done, report);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return report;
}

function checkOutcome(fuzzCase: FuzzCase, call: CallOutcome): string[] {
  const problems: string[] = [];
  if (BUG_OUTCOMES.includes(call.outcome)) problems.push(`${call.outcome} is never a valid answer to client input`);
  else if (!fuzzCase.expect.includes(call.outcome)) problems.push(`expected ${fuzzCase.expect.join(' or ')}`);
  if (fuzzCase.badRequestField !== undefined && call.outcome === 'INVALID_ARGUMENT' && !call.badRequestFields.includes(fuzzCase.badRequestField)) {
    problems.push(`the BadRequest detail names [${call.badRequestFields.join(', ')}], not ${fuzzCase.badRequestField}`);
  }
  const extra = fuzzCase.check?.(call);
  if (extra !== undefined) problems.push(extra);
  return problems;
}

async function checkIngest(fuzzCase: FuzzCase, call: CallOutcome, target: FuzzTarget, report: FuzzReport): Promise<string[]> {
  const problems: string[] = [];
  const expectation = fuzzCase.ingest ?? {};
  const tenantId = target.tenants[fuzzCase.tenant ?? 'fuzz'].tenantId;
  const mustBeStored = new Set<string>(call.outcome === 'OK' ? (expectation.stored ?? []) : []);
  if (call.outcome === 'OK') {
    const response = call.responses[0] === undefined ? undefined : IngestResponse.decode(call.responses[0]);
    let events: { eventId: string }[];
    try {
      events = fuzzCase.messages.flatMap((message) => target.decoders.ingestRequest(message).events);
    } catch (error) {
      return [`answered OK to a message the server's decoder refuses (${error instanceof Error ? error.message : String(error)})`];
    }
    if (response === undefined) return ['answered OK without a response message'];
    const { accepted, duplicates, rejected, rejectedEvents } = response;
    if (accepted + duplicates + rejected !== events.length) problems.push(`accepted ${accepted} + duplicates ${duplicates} + rejected ${rejected} != ${events.length} events sent`);
    for (const [name, want, got] of [
      ['accepted', expectation.accepted, accepted],
      ['duplicates', expectation.duplicates, duplicates],
      ['rejected', expectation.rejected, rejected],
    ] as const) {
      if (want !== undefined && want !== got) problems.push(`${name} is ${got}, expected ${want}`);
    }
    const listed = Math.min(rejected, target.rejectedEventsListed);
    if (rejectedEvents.length !== listed) problems.push(`rejected_events lists ${rejectedEvents.length} events, expected the first ${listed} of ${rejected}`);
    // Every event not listed as rejected must be stored (accepted now, or a duplicate of a stored one).
    // When more were rejected than listed, only the events up to the last listed one are known.
    const rejectedIndexes = new Set(rejectedEvents.map((event) => event.index));
    const known = rejected <= rejectedEvents.length ? events.length : Math.max(-1, ...rejectedIndexes) + 1;
    for (let i = 0; i < known; i++) if (!rejectedIndexes.has(i)) mustBeStored.add(events[i]!.eventId);
    const valid = new Set(expectation.stored);
    for (const listed of rejectedEvents) {
      if (valid.has(events[listed.index]?.eventId ?? '')) problems.push(`a valid event (index ${listed.index}) was rejected: ${listed.reason}`);
    }
    report.eventsSent += events.length;
  }
  const notStored = expectation.notStored ?? [];
  const stored = await target.storedIds(tenantId, [...mustBeStored, ...notStored]);
  const missing = [...mustBeStored].filter((eventId) => !stored.has(eventId));
  if (missing.length > 0) problems.push(`${missing.length} events not rejected are not stored, e.g. ${JSON.stringify(missing.slice(0, 3).map((eventId) => eventId.slice(0, 80)))}`);
  const wrongly = notStored.filter((eventId) => stored.has(eventId));
  if (wrongly.length > 0) problems.push(`${wrongly.length} events of a refused call or rejected events are stored, e.g. ${JSON.stringify(wrongly.slice(0, 3))}`);
  report.eventsStored += mustBeStored.size - missing.length;
  return problems;
}
