import { createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { Status } from '../../src/gen/google/rpc/status';
import { UNAUTHENTICATED_MESSAGE } from '../../src/domain/auth/authenticator';
import type { CallResult } from '../support/ingest-calls';
import { createTenantWithKey } from '../support/ingest-calls';
import { callEveryRpc, metadataWith, refusalOf, unknownKey } from '../support/refusal';
import { runCliCaptured } from '../support/run-cli-captured';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

/** The characters of a key anyone may see: `tv_` and the first 8 (the stored prefix). */
const PUBLIC_PREFIX_LENGTH = 11;

/** Every piece of a key that must stay secret: the key, and each 8-character run of its secret part. */
function secretPieces(key: string): string[] {
  const secret = key.slice(PUBLIC_PREFIX_LENGTH);
  return [key, ...Array.from({ length: Math.max(1, secret.length - 7) }, (_, i) => secret.slice(i, i + 8))];
}

/** The pieces of `keys` found in `text` (none, when the keys stayed secret). */
function leaked(text: string, keys: readonly string[]): string[] {
  return keys.flatMap((key) => secretPieces(key).filter((piece) => piece.length > 0 && text.includes(piece)));
}

/** Everything a client gets back from a call: message, headers, trailers, decoded status details. */
function visibleText(result: CallResult<unknown>): string {
  const parts = [result.error?.details ?? '', result.error?.message ?? '', JSON.stringify(result.headers.toJSON()), JSON.stringify(result.trailers.toJSON())];
  for (const metadata of [result.headers, result.trailers]) {
    for (const value of metadata.get('grpc-status-details-bin')) {
      // The encoded bytes as text (strings in protobuf are plain UTF-8), and the decoded message.
      if (Buffer.isBuffer(value)) parts.push(value.toString('latin1'), Status.decode(value).message);
    }
  }
  return parts.join('\n');
}

/** How a client may present a key. */
const PRESENTATIONS: [string, (key: string) => Metadata][] = [
  ['x-api-key', (key) => metadataWith({ 'x-api-key': key })],
  ['authorization: Bearer', (key) => metadataWith({ authorization: `Bearer ${key}` })],
  // (Trailing blanks never arrive: HTTP/2 drops such a header value.)
  ['authorization: bearer (any case, several blanks)', (key) => metadataWith({ authorization: `bearer   ${key}` })],
];

describe('API key hygiene', () => {
  let db: TestDatabase;
  let server: TestServer;
  let valid: string;
  let revoked: string;
  let expired: string;
  let unknown: string;
  /** Ill-formed keys, each close to a real one. */
  let malformed: string[];

  beforeAll(async () => {
    db = await createTestDatabase();
    // Well over a hundred failed authentications from one address: out of the failure limit's way.
    server = await startTestServer(db.url, { AUTH_FAILURE_BURST: '100000' });
    const tenant = await createTenantWithKey(db.pool, 'hygiene');
    valid = tenant.key;
    const toRevoke = await tenant.admin.createKey(tenant.tenantId);
    await tenant.admin.revokeKey(toRevoke.record.id);
    revoked = toRevoke.key;
    expired = (await tenant.admin.createKey(tenant.tenantId, 1)).key;
    await new Promise((resolve) => setTimeout(resolve, 5));
    unknown = unknownKey();
    malformed = [valid.slice(0, -1), `${valid}A`, valid.replace(/^tv_/, 'TV_'), `${valid.slice(0, 20)}!${valid.slice(21)}`, valid.slice(PUBLIC_PREFIX_LENGTH), 'tv_short'];
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when keys exist, then the database holds only their SHA-256 hashes and public prefixes, nowhere a key or a piece of its secret', async () => {
    const columns = await db.pool.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'api_keys' ORDER BY ordinal_position`);
    expect(columns.rows.map((row) => row.column_name)).toEqual(['id', 'tenant_id', 'key_hash', 'prefix', 'created_at', 'expires_at', 'revoked_at']);
    const stored = await db.pool.query<{ key_hash: Buffer; prefix: string }>('SELECT key_hash, prefix FROM api_keys ORDER BY created_at');
    expect(stored.rows.map((row) => [row.key_hash.toString('hex'), row.prefix])).toEqual(
      [valid, revoked, expired].map((key) => [createHash('sha256').update(key).digest('hex'), key.slice(0, PUBLIC_PREFIX_LENGTH)]),
    );
    // Every row of every table, as text.
    const tables = await db.pool.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    expect(tables.rows.length).toBeGreaterThanOrEqual(4);
    let text = '';
    for (const { table_name: table } of tables.rows) {
      const rows = await db.pool.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${table.replace(/"/g, '""')}" t`);
      text += rows.rows.map((row) => row.row).join('\n');
    }
    expect(text).toContain(valid.slice(0, PUBLIC_PREFIX_LENGTH));
    expect(leaked(text, [valid, revoked, expired])).toEqual([]);
  });

  test('when every RPC is called with valid, unknown, revoked, expired and malformed keys in every presentation, then no key reaches a log line or anything the client gets back', async () => {
    const keys = [valid, unknown, revoked, expired, ...malformed];
    let calls = 0;
    for (const key of keys) {
      for (const [, present] of PRESENTATIONS) {
        const results = await callEveryRpc(server, () => present(key));
        for (const [method, result] of Object.entries(results)) {
          expect([method, leaked(visibleText(result), keys)]).toEqual([method, []]);
          calls++;
        }
      }
    }
    expect(calls).toBe(keys.length * PRESENTATIONS.length * 5);
    // The calls were logged, at debug level and up: one line per call at least.
    expect(server.logs.lines.length).toBeGreaterThanOrEqual(calls);
    expect(leaked(server.logs.text, keys)).toEqual([]);
  });

  test('when a key is valid, then every RPC succeeds with it in every presentation (so that the refusals below are the keys’ doing)', async () => {
    for (const [name, present] of PRESENTATIONS) {
      const results = await callEveryRpc(server, () => present(valid));
      expect([name, Object.entries(results).map(([method, result]) => [method, result.error?.code])]).toEqual([name, Object.keys(results).map((method) => [method, undefined])]);
    }
  });

  test('when a key is unknown, revoked, expired, malformed or missing, then every RPC answers byte for byte the same (request id and date aside)', async () => {
    const cases: [string, () => Metadata][] = [
      ...[unknown, revoked, expired, ...malformed].flatMap((key, i) => PRESENTATIONS.map(([name, present]): [string, () => Metadata] => [`key #${i} as ${name}`, () => present(key)])),
      ['no key', () => metadataWith({})],
      ['an empty x-api-key', () => metadataWith({ 'x-api-key': '' })],
      ['Bearer without a key', () => metadataWith({ authorization: 'Bearer' })],
      ['another scheme', () => metadataWith({ authorization: `Basic ${Buffer.from(`user:${valid}`).toString('base64')}` })],
    ];
    const answers = new Map<string, string[]>();
    for (const [name, metadata] of cases) {
      for (const [method, result] of Object.entries(await callEveryRpc(server, metadata))) {
        const answer = JSON.stringify(refusalOf(result));
        answers.set(answer, [...(answers.get(answer) ?? []), `${method} with ${name}`]);
      }
    }
    // One answer for all of them (shown with the calls that got it, should there be more).
    expect([...answers].map(([answer, calls]) => [JSON.parse(answer), calls.length === cases.length * 5 ? 'every call' : calls])).toEqual([
      [{ code: 'UNAUTHENTICATED', details: UNAUTHENTICATED_MESSAGE, metadata: { 'content-type': ['application/grpc+proto'] } }, 'every call'],
    ]);
  });

  test('when keys are made, listed and revoked with the command, then only key create prints the key', async () => {
    const env = { DATABASE_URL: db.url };
    const created = await runCliCaptured(['key', 'create', 'hygiene', '--json'], env);
    expect(created.code).toBe(0);
    const { key, id } = created.json<{ key: string; id: string }>();
    expect(key).toMatch(/^tv_[A-Za-z0-9_-]{43}$/);
    const human = await runCliCaptured(['key', 'create', 'hygiene'], env);
    const humanKey = /tv_[A-Za-z0-9_-]{43}/.exec(human.stdout)?.[0];
    expect(humanKey).toBeDefined();
    const everyKey = [key, humanKey!, valid, revoked, expired];
    const quiet = [
      await runCliCaptured(['key', 'list', 'hygiene'], env),
      await runCliCaptured(['key', 'list', 'hygiene', '--json'], env),
      await runCliCaptured(['key', 'revoke', id], env),
      await runCliCaptured(['key', 'revoke', id, '--json'], env),
      await runCliCaptured(['tenant', 'list', '--json'], env),
    ];
    for (const result of quiet) {
      expect(result.code).toBe(0);
      expect(leaked(result.stdout + result.stderr, everyKey)).toEqual([]);
    }
    expect(quiet[1]!.json<{ prefix: string }[]>().map((listed) => listed.prefix)).toContain(key.slice(0, PUBLIC_PREFIX_LENGTH));
    expect(leaked(created.stderr + human.stderr, everyKey)).toEqual([]);
  });
});
