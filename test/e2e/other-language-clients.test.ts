import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/load-config';
import { createTenantWithKey, queryEvents } from '../support/query-fixtures';
import { ingestUnary, makeEvent } from '../support/ingest-calls';
import { goToolchain, pythonToolchain, pythonWithGrpcTools, type LanguageClient, type Toolchain } from '../support/other-language-clients';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';

const DEFAULT_DEPTH = loadConfig({}).ingest.maxPayloadDepth;

type Shape = 'objects' | 'arrays' | 'mixed';

/** A payload `levels` deep as INGEST_MAX_PAYLOAD_DEPTH counts (the top object is 1), with a number at the bottom. */
function nested(shape: Shape, levels: number): Record<string, unknown> {
  const isObject = (level: number): boolean => level === 1 || shape === 'objects' || (shape === 'mixed' && level % 2 === 1);
  let value: unknown = 7;
  for (let level = levels; level >= 1; level--) value = isObject(level) ? { k: value } : [value];
  return value as Record<string, unknown>;
}

/** JSON nesting of a value (an object or array is one level more than its deepest child). */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOf));
}

const PAYLOAD = { level: 'error', attempt: 3, ok: false, ratio: 0.25, tags: ['a', 'b'], nested: { none: null, text: 'héllo ✓' } };
const SHAPES: Shape[] = ['objects', 'arrays', 'mixed'];

let sequence = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++sequence}`;

const toolchains: [string, Toolchain][] = [
  ['Python (grpcio, python3 -m grpc_tools.protoc)', pythonToolchain()],
  ['Go (grpc-go, protoc-gen-go and protoc-gen-go-grpc)', goToolchain()],
];
for (const [language, toolchain] of toolchains) {
  if ('missing' in toolchain) console.warn(`other-language client tests for ${language} skipped: ${toolchain.missing}`);
}

const ROOT = path.resolve(__dirname, '../..');

/** Every .proto file under `dir` (relative to the checkout), as paths relative to the checkout. */
function protoFilesUnder(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.proto')).map((name) => path.join(dir, name)).sort();
}

describe('proto/ for code generators', () => {
  const python = pythonWithGrpcTools();
  if (!python) console.warn('the test of generating all of proto/ for Python is skipped: no python3 with grpcio and grpc_tools (apt-get install python3-grpc-tools)');

  // It made grpc/health/v1/health_pb2.py and google/rpc/*.py: a grpc/ package that shadows grpcio.
  (python ? test : test.skip)('when every .proto file under proto/ is generated for Python, then the output is the telemetry package alone and "import grpc" still finds grpcio', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-proto-python-'));
    try {
      const files = protoFilesUnder('proto');
      expect(files).toEqual(expect.arrayContaining(['proto/telemetry/v1/event.proto', 'proto/telemetry/v1/ingest_service.proto', 'proto/telemetry/v1/query_service.proto']));
      await promisify(execFile)(python!, ['-m', 'grpc_tools.protoc', '-I', 'proto', `--python_out=${out}`, `--grpc_python_out=${out}`, ...files], { cwd: ROOT });
      expect(fs.readdirSync(out)).toEqual(['telemetry']);
      const script = 'import sys; sys.path.insert(0, sys.argv[1]); import grpc; from telemetry.v1 import query_service_pb2_grpc; print(grpc.__file__); print(grpc.StatusCode.OK.name)';
      const { stdout } = await promisify(execFile)(python!, ['-c', script, out]);
      const [grpcFile, ok] = stdout.trim().split('\n');
      expect(grpcFile!.startsWith(out)).toBe(false);
      expect(ok).toBe('OK');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('clients in other languages, generated from proto/ with plain protoc, against a real server', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let workDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    ({ key } = await createTenantWithKey(db.pool, 'polyglot'));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-clients-'));
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test(`when a payload nests exactly the default INGEST_MAX_PAYLOAD_DEPTH (${DEFAULT_DEPTH}) levels, then a grpc-js (ts-proto) client ingests it and reads it back from QueryEvents as the same Struct`, async () => {
    for (const shape of SHAPES) {
      const payload = nested(shape, DEFAULT_DEPTH);
      expect(depthOf(payload)).toBe(DEFAULT_DEPTH);
      const event = makeEvent({ serviceName: unique(`grpc-js-${shape}`), payloadJson: undefined, payload });
      const ingested = await ingestUnary(server.ingest, withKey(key), { events: [event] });
      expect({ shape, accepted: ingested.response?.accepted, reasons: ingested.response?.rejectedEvents.map((rejected) => rejected.reason) }).toEqual({ shape, accepted: 1, reasons: [] });
      const page = await queryEvents(server.query, key, { filter: { serviceNames: [event.serviceName] }, limit: 10 });
      expect({ shape, events: page.events.map((read) => ({ eventId: read.eventId, payload: read.payload })) }).toEqual({ shape, events: [{ eventId: event.eventId, payload }] });
    }
  });

  describe.each(toolchains)('%s', (language, toolchain) => {
    const testWithToolchain = 'missing' in toolchain ? test.skip : test;
    let client: LanguageClient;

    beforeAll(async () => {
      if ('build' in toolchain) client = await toolchain.build(path.join(workDir, language.split(' ')[0]!.toLowerCase()));
    }, 300_000);

    testWithToolchain('when its generated client makes one Ingest call and one QueryEvents call, then one event is accepted and read back with its payload', async () => {
      const event = { eventId: unique('polyglot'), eventType: 'log', serviceName: unique('polyglot-service'), payload: PAYLOAD };
      const report = await client.run({ address: server.address, apiKey: key, event });
      expect(report.error).toBeUndefined();
      expect(report.ingest).toEqual({ accepted: 1, duplicates: 0, rejected: 0, reasons: [] });
      expect(report.events).toEqual([{ eventId: event.eventId, eventType: 'log', serviceName: event.serviceName, payloadKind: 'payload', payload: PAYLOAD, hasReceivedAt: true }]);
      if (report.protobufBackend) process.stdout.write(`${language}: protobuf backend ${report.protobufBackend}; generated with ${client.generatedWith}\n`);
    });

    testWithToolchain(`when it sends a payload exactly the default INGEST_MAX_PAYLOAD_DEPTH (${DEFAULT_DEPTH}) levels deep, then it is accepted and QueryEvents returns it as the same Struct, as objects, as arrays and mixed`, async () => {
      for (const shape of SHAPES) {
        const payload = nested(shape, DEFAULT_DEPTH);
        const event = { eventId: unique(`deep-${shape}`), eventType: 'log', serviceName: unique(`deep-${shape}`), payload };
        const report = await client.run({ address: server.address, apiKey: key, event });
        // The failure this guards against: INTERNAL "Exception deserializing response" for the whole page.
        expect({ shape, error: report.error, ingest: report.ingest }).toEqual({ shape, error: undefined, ingest: { accepted: 1, duplicates: 0, rejected: 0, reasons: [] } });
        expect({ shape, events: report.events?.map((read) => ({ eventId: read.eventId, payload: read.payload })) }).toEqual({ shape, events: [{ eventId: event.eventId, payload }] });
      }
    });
  });
});
