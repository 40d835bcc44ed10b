import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VaultClient } from '../../clients/node/src';
import { CliProcess, runCliProcess, type CliRun } from '../support/cli-process';
import { freePort } from '../support/fault-drill';
import { createTenantWithKey } from '../support/ingest-calls';
import { makeEvents, seedEvents, type SeedEvent } from '../support/seed-events';
import { CLI_BIN } from '../support/server-process';
import { generateTestPki } from '../support/test-certificates';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, type TestServer } from '../support/test-server';

/** What `--json` prints per event. */
interface EventLine {
  eventId: string;
  timestamp: string;
  eventType: string;
  serviceName: string;
  receivedAt: string | null;
  payload: Record<string, unknown>;
}

const SEEDED = 1200;
/** Small stream chunks, so that `query --all` reads many StreamEvents messages. */
const CHUNK = 100;
const STREAM_EVENTS = 'telemetry.v1.QueryService/StreamEvents';

/** Contract order (timestamp, event_id), oldest first. */
function oldestFirst(a: SeedEvent, b: SeedEvent): number {
  return a.timestampUs < b.timestampUs ? -1 : a.timestampUs > b.timestampUs ? 1 : a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

function isoOf(event: SeedEvent): string {
  return new Date(Number(event.timestampUs / 1000n)).toISOString();
}

function jsonLines(stdout: string): EventLine[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as EventLine);
}

/** A human line: time, type, service, compact payload. */
const HUMAN_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) (\S+) (\{.*\})$/;

describe('the telemetry-vault command as a remote client (tail, query, count), run as a child process against a real vault', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let env: Record<string, string>;
  /** The tail tests' tenant, so that what they ingest leaves the seeded tenant's counts alone. */
  let tailEnv: Record<string, string>;
  let tailKey: string;
  let seeded: SeedEvent[];
  const cli = (...args: string[]): Promise<CliRun> => runCliProcess(args, env);

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { QUERY_STREAM_CHUNK_SIZE: String(CHUNK) });
    const tenant = await createTenantWithKey(db.pool, 'cli-remote', { eventsPerSecond: 100_000, eventBurst: 100_000 });
    key = tenant.key;
    env = { VAULT_ADDRESS: server.address, VAULT_API_KEY: key };
    seeded = makeEvents(SEEDED, 'cli');
    await seedEvents(db.pool, tenant.tenantId, seeded);
    // Another tenant's events, which no command may show.
    tailKey = (await createTenantWithKey(db.pool, 'cli-tail', { eventsPerSecond: 100_000, eventBurst: 100_000 })).key;
    tailEnv = { VAULT_ADDRESS: server.address, VAULT_API_KEY: tailKey };
    const other = await createTenantWithKey(db.pool, 'cli-other');
    await seedEvents(db.pool, other.tenantId, makeEvents(50, 'foreign'));
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  describe('query', () => {
    test('when query runs with no flags, then it prints the newest 100 matches as human lines and notes on stderr that more match', async () => {
      const result = await cli('query');
      expect(result.code).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(100);
      const expected = [...seeded].sort((a, b) => oldestFirst(b, a)).slice(0, 100);
      lines.forEach((line, i) => {
        const [, time, type, service, payload] = HUMAN_LINE.exec(line) ?? [];
        expect([time, type, service]).toEqual([isoOf(expected[i]!), expected[i]!.eventType, expected[i]!.serviceName]);
        expect(payload).not.toMatch(/[:,] /);
        expect(JSON.parse(payload!)).toEqual(expected[i]!.payload);
      });
      expect(result.stderr).toBe('(100 events shown, newest first; more match: raise --limit or use --all)\n');
    });

    test('when query runs with --limit 5 --oldest-first --json, then it prints the 5 oldest events as JSON lines with every field', async () => {
      const result = await cli('query', '--limit', '5', '--oldest-first', '--json');
      expect(result.code).toBe(0);
      const expected = [...seeded].sort(oldestFirst).slice(0, 5);
      const lines = jsonLines(result.stdout);
      expect(lines.map((line) => ({ ...line, receivedAt: typeof line.receivedAt }))).toEqual(
        expected.map((event) => ({ eventId: event.eventId, timestamp: isoOf(event), eventType: event.eventType, serviceName: event.serviceName, receivedAt: 'string', payload: event.payload })),
      );
      expect(result.stderr).toContain('5 events shown, oldest first; more match');
    });

    test.each([
      ['newest first', [] as string[], (a: SeedEvent, b: SeedEvent) => oldestFirst(b, a)],
      ['oldest first', ['--oldest-first'], oldestFirst],
    ])('when query --all runs (%s), then it prints every one of the 1200 matches once, in order, across many stream messages, and no note', async (_order, flags, compare) => {
      const result = await cli('query', '--all', '--json', ...flags);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(jsonLines(result.stdout).map((line) => line.eventId)).toEqual([...seeded].sort(compare).map((event) => event.eventId));
    });

    test('when query is given --service twice, --type, --contains, --from and --to, then it prints exactly the events matching all of them', async () => {
      const from = seeded[300]!;
      const to = seeded[900]!;
      const result = await cli('query', '--all', '--json', '--oldest-first', '--service', 'checkout', '--service', 'auth', '--type', 'log', '--contains', '{"level":"error"}', '--from', isoOf(from), '--to', isoOf(to));
      expect(result.code).toBe(0);
      const fromUs = (from.timestampUs / 1000n) * 1000n;
      const toUs = (to.timestampUs / 1000n) * 1000n;
      const expected = seeded
        .filter((event) => ['checkout', 'auth'].includes(event.serviceName) && event.eventType === 'log' && event.payload.level === 'error' && event.timestampUs >= fromUs && event.timestampUs < toUs)
        .sort(oldestFirst);
      expect(expected.length).toBeGreaterThan(5);
      expect(jsonLines(result.stdout).map((line) => line.eventId)).toEqual(expected.map((event) => event.eventId));
    });

    test('when query is given relative times, then --since 1h finds none of the 2024 events and --to 1h finds them all', async () => {
      const recent = await cli('query', '--since', '1h');
      expect([recent.code, recent.stdout, recent.stderr]).toEqual([0, '', '']);
      const older = await cli('query', '--to', '1h', '--all', '--json');
      expect(jsonLines(older.stdout)).toHaveLength(SEEDED);
    });

    test('when the output of query --all goes to a pipe closed early (| head -n 1), then it exits 0 and prints nothing on stderr', async () => {
      const script = `"${process.execPath}" "${CLI_BIN}" query --all --json | head -n 1; echo "exit=\${PIPESTATUS[0]}" >&2`;
      const shell = spawn('bash', ['-c', script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await new Promise((resolve) => shell.on('close', resolve));
      expect(jsonLines(stdout)).toHaveLength(1);
      expect(stderr).toBe('exit=0\n');
    });
  });

  describe('count', () => {
    test('when count runs with no grouping, then it prints the total as a table, and as JSON with --json', async () => {
      const table = await cli('count');
      expect(table.code).toBe(0);
      expect(table.stdout).toBe(`COUNT\n${String(SEEDED).padStart(5)}\n`);
      const json = await cli('count', '--json', '--type', 'metric');
      expect(JSON.parse(json.stdout)).toEqual([{ count: seeded.filter((event) => event.eventType === 'metric').length }]);
    });

    test('when count runs with --by type --by service, then it prints one aligned row per pair, the counts right-aligned', async () => {
      const result = await cli('count', '--by', 'type', '--by', 'service');
      expect(result.code).toBe(0);
      const [header, ...rows] = result.stdout.trimEnd().split('\n');
      expect(header).toMatch(/^TYPE +SERVICE +COUNT$/);
      const expected = new Map<string, number>();
      for (const event of seeded) expected.set(`${event.eventType} ${event.serviceName}`, (expected.get(`${event.eventType} ${event.serviceName}`) ?? 0) + 1);
      expect(new Map(rows.map((row) => [row.split(/ +/).slice(0, 2).join(' '), Number(row.split(/ +/)[2])]))).toEqual(expected);
      // Aligned: every line as long as the header, each column starting where its heading does.
      for (const row of rows) {
        expect(row).toHaveLength(header!.length);
        expect(row[header!.indexOf('SERVICE') - 1]).toBe(' ');
      }
    });

    test('when count runs with --by service --bucket 1m --json and a window, then it prints the per-minute counts of each service', async () => {
      const result = await cli('count', '--by', 'service', '--bucket', '1m', '--from', '2024-01-01T00:00:00Z', '--to', '2024-01-02', '--json');
      expect(result.code).toBe(0);
      const expected = new Map<string, number>();
      for (const event of seeded) {
        const bucket = new Date(Math.floor(Number(event.timestampUs / 1000n) / 60_000) * 60_000).toISOString();
        expected.set(`${bucket} ${event.serviceName}`, (expected.get(`${bucket} ${event.serviceName}`) ?? 0) + 1);
      }
      const rows = JSON.parse(result.stdout) as { bucketStart: string; serviceName: string; count: number }[];
      expect(rows.every((row) => Object.keys(row).sort().join() === 'bucketStart,count,serviceName')).toBe(true);
      expect(new Map(rows.map((row) => [`${row.bucketStart} ${row.serviceName}`, row.count]))).toEqual(expected);
    });
  });

  describe('tail', () => {
    /** Waits until a stdout line passes `check`; false when tail ended first. */
    async function lineSeen(tail: CliProcess, check: (line: string) => boolean): Promise<boolean> {
      for (;;) {
        if (tail.lines().some(check)) return true;
        if (tail.ended) return false;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    /** When the server ended the stream after the stored events, it does not follow yet: print why the rest is skipped. */
    async function skippedWithoutFollow(tail: CliProcess, what: string): Promise<boolean> {
      const run = await tail.exited;
      if (run.code === 1 && run.stderr.includes('does not follow')) {
        process.stdout.write(`skipped ${what}: this server does not follow StreamEvents yet (contract section 10, the tail helper's work); tail said: ${run.stderr.trim()}\n`);
        return true;
      }
      throw new Error(`tail ended unexpectedly (code ${String(run.code)}):\n${run.stderr}`);
    }

    test('when tail --json --service S runs and events are ingested after it started, then it prints each new match of S once, and Ctrl+C exits 0 and cancels the call', async () => {
      const client = new VaultClient({ address: server.address, apiKey: tailKey });
      const ingester = client.ingester({ lingerMs: 0 });
      const tail = new CliProcess(['tail', '--json', '--service', 'tail-json'], tailEnv);
      try {
        // Probes until one shows that the stream runs (ingesting before tail's start would not match).
        for (let probe = 0; !(await lineSeenWithin(tail, (line) => line.includes('"probe"'))); probe++) {
          if (tail.ended && (await skippedWithoutFollow(tail, 'the tail --json test'))) return;
          if (probe === 100) throw new Error(`tail printed none of 100 probes:\n${tail.stderr}`);
          await ingester.add({ eventId: `probe-${probe}`, eventType: 'log', serviceName: 'tail-json', payload: { probe } });
          await ingester.flush();
        }
        for (const id of ['live-1', 'live-2', 'live-3']) await ingester.add({ eventId: id, eventType: 'log', serviceName: 'tail-json', payload: { id, big: '12345678901234567890' } });
        await ingester.add({ eventId: 'elsewhere-1', eventType: 'log', serviceName: 'another-service', payload: {} });
        await ingester.flush();
        // A server that does not follow may have sent a probe as a stored event, then ended the stream.
        if (!(await lineSeen(tail, (line) => line.includes('"live-3"'))) && (await skippedWithoutFollow(tail, 'the tail --json test'))) return;
        await ingester.add({ eventId: 'live-4', eventType: 'metric', serviceName: 'tail-json', payload: { value: 1 } });
        await ingester.flush();
        expect(await lineSeen(tail, (line) => line.includes('"live-4"'))).toBe(true);

        const printed = jsonLines(tail.stdout);
        const ids = printed.map((line) => line.eventId);
        expect(ids.filter((id) => id.startsWith('live-')).sort()).toEqual(['live-1', 'live-2', 'live-3', 'live-4']);
        expect(new Set(ids).size).toBe(ids.length);
        expect(printed.every((line) => line.serviceName === 'tail-json')).toBe(true);
        expect(printed.find((line) => line.eventId === 'live-2')).toMatchObject({ eventType: 'log', payload: { id: 'live-2', big: '12345678901234567890' } });
      } finally {
        tail.signal('SIGINT');
        await ingester.close();
        client.close();
      }
      const run = await tail.exited;
      expect([run.code, run.signal, run.stderr]).toEqual([0, null, '']);
      await eventually(() => expect(server.logs.records().some((record) => record.method === STREAM_EVENTS && record.code === 'CANCELLED')).toBe(true));
    });

    test('when tail --since 10m runs, then it first prints the stored matches of the last 10 minutes as human lines, then new ones, until Ctrl+C', async () => {
      const client = new VaultClient({ address: server.address, apiKey: tailKey });
      const ingester = client.ingester({ lingerMs: 0 });
      const now = Date.now();
      await ingester.add({ eventId: 'stored-old', timestamp: new Date(now - 20 * 60_000), eventType: 'log', serviceName: 'tail-human', payload: { at: 'old' } });
      await ingester.add({ eventId: 'stored-recent', timestamp: new Date(now - 5 * 60_000), eventType: 'log', serviceName: 'tail-human', payload: { at: 'recent', level: 'error' } });
      await ingester.flush();
      const tail = new CliProcess(['tail', '--since', '10m', '--type', 'log', '--service', 'tail-human'], tailEnv);
      try {
        expect(await lineSeen(tail, (line) => line.includes('"recent"'))).toBe(true);
        const [first] = tail.lines();
        expect(first).toBe(`${new Date(now - 5 * 60_000).toISOString()} log tail-human {"at":"recent","level":"error"}`);
        await ingester.add({ eventId: 'new-1', eventType: 'log', serviceName: 'tail-human', payload: { at: 'new' } });
        await ingester.flush();
        if (!(await lineSeen(tail, (line) => line.includes('"new"'))) && (await skippedWithoutFollow(tail, 'the live part of the tail --since test'))) return;
        expect(tail.lines()).toHaveLength(2);
        expect(tail.lines()[1]).toMatch(/^\S+Z log tail-human \{"at":"new"\}$/);
      } finally {
        tail.signal('SIGINT');
        await ingester.close();
        client.close();
      }
      const run = await tail.exited;
      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(run.stdout).not.toContain('"old"');
    });
    test('when the server tail follows restarts (SIGTERM drain) while events are ingested through another instance, then tail reconnects and prints every event once: before, while down, after', async () => {
      const port = await freePort();
      const restartable = { GRPC_PORT: String(port) };
      let followed = await startTestServer(db.url, restartable);
      // A second instance on the same database: ingest goes on through it while the followed one is down.
      const other = new VaultClient({ address: server.address, apiKey: tailKey });
      const ingester = other.ingester({ lingerMs: 0 });
      const send = async (ids: string[], timestamp?: Date): Promise<void> => {
        for (const eventId of ids) await ingester.add({ eventId, timestamp, eventType: 'log', serviceName: 'tail-restart', payload: { eventId } });
        await ingester.flush();
      };
      const tail = new CliProcess(['tail', '--json', '--service', 'tail-restart'], { VAULT_ADDRESS: `127.0.0.1:${port}`, VAULT_API_KEY: tailKey });
      try {
        for (let probe = 0; !(await lineSeenWithin(tail, (line) => line.includes('"restart-probe-'))); probe++) {
          if (tail.ended || probe === 100) throw new Error(`tail printed none of ${probe} probes:\n${tail.stderr}`);
          await send([`restart-probe-${probe}`]);
        }
        await send(['before-1', 'before-2', 'before-3']);
        expect(await lineSeen(tail, (line) => line.includes('"before-3"'))).toBe(true);

        await followed.stop();
        // Committed while tail has no server; one of them carries a timestamp older than every event tail printed
        // (but inside its window: the first probe's), so that resuming "after the last timestamp seen" would miss it.
        const firstProbe = jsonLines(tail.stdout).find((line) => line.eventId.startsWith('restart-probe-'))!;
        await send(['down-1', 'down-2']);
        await send(['down-old'], new Date(firstProbe.timestamp));
        followed = await startTestServer(db.url, restartable);
        await send(['after-1', 'after-2']);
        expect(await lineSeen(tail, (line) => line.includes('"after-2"'))).toBe(true);

        const ids = jsonLines(tail.stdout)
          .map((line) => line.eventId)
          .filter((id) => !id.startsWith('restart-probe-'));
        expect(ids.slice().sort()).toEqual(['after-1', 'after-2', 'before-1', 'before-2', 'before-3', 'down-1', 'down-2', 'down-old']);
        const probes = jsonLines(tail.stdout).filter((line) => line.eventId.startsWith('restart-probe-'));
        expect(new Set(probes.map((line) => line.eventId)).size).toBe(probes.length);
        expect(tail.stderr).toMatch(/^tail: the stream was lost \(UNAVAILABLE: .*\); reconnecting in \d+\.\d s$/m);
      } finally {
        tail.signal('SIGINT');
        await ingester.close();
        other.close();
        await followed.stop();
      }
      const run = await tail.exited;
      expect([run.code, run.signal]).toEqual([0, null]);
    });
  });

  describe('errors and connection', () => {
    test('when the API key is unknown, then each command prints one line "error: UNAUTHENTICATED: <message>" and exits 1', async () => {
      for (const command of ['query', 'count', 'tail']) {
        const result = await runCliProcess([command], { ...env, VAULT_API_KEY: 'tv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
        expect([command, result.code, result.stdout]).toEqual([command, 1, '']);
        expect(result.stderr).toMatch(/^error: UNAUTHENTICATED: \S.*\n$/);
      }
    });

    test('when nothing listens at the address, then the command prints "error: UNAVAILABLE: ..." and exits 1', async () => {
      const result = await runCliProcess(['count'], { VAULT_API_KEY: key, VAULT_ADDRESS: '127.0.0.1:1' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: UNAVAILABLE: .*ECONNREFUSED.*\n$/);
    });

    test('when the flags give the address and key, then they win over VAULT_ADDRESS and VAULT_API_KEY', async () => {
      const result = await runCliProcess(['count', '--address', server.address, '--api-key', key], { VAULT_ADDRESS: '127.0.0.1:1', VAULT_API_KEY: 'tv_wrong' });
      expect([result.code, result.stdout, result.stderr]).toEqual([0, `COUNT\n${String(SEEDED).padStart(5)}\n`, '']);
    });

    test.each([
      [['query', '--colour'], "Unknown option '--colour'"],
      [['query', '--contains', '{"level":'], '--contains must be a JSON object'],
      [['count', '--contains', '[1,2]'], '--contains must be a JSON object'],
      [['tail', '--since', 'yesterday'], '--since must be a duration with a unit'],
      [['tail', '--since', '15'], '--since must be a duration with a unit'],
      [['query', '--from', '2024-13-45'], '--from must be an RFC 3339 time'],
      [['query', '--from', '1h', '--to', '2h'], '--to ('],
      [['query', '--from', '1h', '--since', '2h'], '--from and --since'],
      [['query', '--limit', '0'], '--limit must be a positive whole number'],
      [['query', '--limit', '5', '--all'], '--limit and --all exclude each other'],
      [['query', 'checkout'], 'query takes no arguments'],
      [['count', '--by', 'region'], '--by must be type or service'],
      [['count', '--bucket', '500ms'], '--bucket must be at least 1s'],
      [['count', '--tls-cert', 'client.pem'], '--tls-cert and --tls-key go together'],
      [['count', '--tls-ca', '/nonexistent/ca.pem'], '--tls-ca: cannot read /nonexistent/ca.pem: ENOENT'],
    ])('when the command line is %j, then it exits 2 with one error line naming the flag, and connects to nothing', async (args, reason) => {
      // An address where nothing listens: a usage error must come before any call.
      const result = await runCliProcess(args, { VAULT_API_KEY: key, VAULT_ADDRESS: '127.0.0.1:1' });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const [line, hint] = result.stderr.split('\n');
      expect(line).toMatch(/^error: /);
      expect(line).toContain(reason);
      expect(hint).toBe(`Run "telemetry-vault ${args[0]!} --help" for its flags.`);
    });

    test('when no API key is given, then the command exits 2 saying how to give one; --help prints the flags and exits 0', async () => {
      const missing = await runCliProcess(['query'], { VAULT_ADDRESS: server.address });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('no API key: pass --api-key or set VAULT_API_KEY');
      const help = await runCliProcess(['count', '--help'], {});
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--by type|service');
      expect(help.stdout).toContain('VAULT_ADDRESS');
    });
  });

  describe('over mutual TLS', () => {
    let dir: string;
    let tlsServer: TestServer;
    const file = (name: string) => path.join(dir, name);

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-cli-tls-'));
      const pki = generateTestPki();
      const files = { 'ca.pem': pki.ca.cert, 'server.pem': pki.server.cert, 'server.key': pki.server.key, 'client.pem': pki.client.cert, 'client.key': pki.client.key };
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(file(name), text);
      tlsServer = await startTestServer(db.url, { TLS_CERT_FILE: file('server.pem'), TLS_KEY_FILE: file('server.key'), TLS_CLIENT_CA_FILE: file('ca.pem') });
    });

    afterAll(async () => {
      await tlsServer.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('when the CA and a client certificate are given by flags or by VAULT_TLS_* variables, then count works; without the certificate it fails UNAVAILABLE', async () => {
      const flags = await runCliProcess(['count', '--address', tlsServer.address, '--tls-ca', file('ca.pem'), '--tls-cert', file('client.pem'), '--tls-key', file('client.key')], { VAULT_API_KEY: key });
      expect([flags.code, flags.stdout, flags.stderr]).toEqual([0, `COUNT\n${String(SEEDED).padStart(5)}\n`, '']);
      const variables = await runCliProcess(['query', '--limit', '1', '--json'], { VAULT_ADDRESS: tlsServer.address, VAULT_API_KEY: key, VAULT_TLS_CA: file('ca.pem'), VAULT_TLS_CERT: file('client.pem'), VAULT_TLS_KEY: file('client.key') });
      expect(variables.code).toBe(0);
      expect(jsonLines(variables.stdout)).toHaveLength(1);
      const noCertificate = await runCliProcess(['count', '--address', tlsServer.address, '--tls-ca', file('ca.pem')], { VAULT_API_KEY: key });
      expect(noCertificate.code).toBe(1);
      expect(noCertificate.stderr).toMatch(/^error: UNAVAILABLE: /);
      const plaintext = await runCliProcess(['count', '--address', tlsServer.address], { VAULT_API_KEY: key });
      expect(plaintext.code).toBe(1);
      expect(plaintext.stderr).toMatch(/^error: UNAVAILABLE: /);
    });
  });

  describe('colour', () => {
    /**
     * Runs the command on a pseudo-terminal (util-linux `script`); undefined when there is none.
     * Asynchronous: the server answering it runs in this process.
     */
    async function onTerminal(args: string[], extraEnv: Record<string, string>): Promise<string | undefined> {
      const command = [process.execPath, CLI_BIN, ...args].map((arg) => `'${arg}'`).join(' ');
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm-256color', ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => {
        child.on('error', () => resolve(null));
        child.on('close', resolve);
      });
      return code === 0 ? stdout : undefined;
    }

    test('when query prints on a terminal, then it colours the lines; with NO_COLOR set, or into a pipe, it does not', async () => {
      const coloured = await onTerminal(['query', '--limit', '3', '--type', 'log', '--contains', '{"level":"error"}'], {});
      if (coloured === undefined) {
        process.stdout.write('skipped the colour-on-a-terminal test: util-linux `script` could not give the command a pseudo-terminal here\n');
        return;
      }
      // The pseudo-terminal carries stderr too: the note that more match comes last.
      const lines = coloured.trimEnd().split('\r\n');
      expect(lines.pop()).toBe('(3 events shown, newest first; more match: raise --limit or use --all)');
      expect(lines).toHaveLength(3);
      // Time dim, type red (level error), service bold.
      expect(lines.every((line) => /^\x1b\[2m\S+Z\x1b\[0m \x1b\[31mlog\x1b\[0m \x1b\[1m\S+\x1b\[0m \{.*\}$/.test(line))).toBe(true);
      expect(await onTerminal(['query', '--limit', '3'], { NO_COLOR: '1' })).not.toContain('\x1b[');
      expect((await cli('query', '--limit', '3')).stdout).not.toContain('\x1b[');
    });
  });
});

/** Whether a line passing `check` appears within a short while (a probe's round trip); false at once when tail ended. */
async function lineSeenWithin(tail: CliProcess, check: (line: string) => boolean, waitMs = 500): Promise<boolean> {
  const until = Date.now() + waitMs;
  while (Date.now() < until) {
    if (tail.lines().some(check)) return true;
    if (tail.ended) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return tail.lines().some(check);
}
