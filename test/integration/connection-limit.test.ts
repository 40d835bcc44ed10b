import http2 from 'node:http2';
import net from 'node:net';
import { credentials, status } from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { createTenantWithKey, ingestUnary, makeEvent } from '../support/ingest-calls';
import { IngestServiceClient } from '../../src/gen/telemetry/v1/ingest_service';

/**
 * GRPC_MAX_CONNECTIONS (src/transport/connection-limit.ts) on a vault that
 * takes 4 connections on each client port: the test's own client is one of
 * the gRPC port's, idle raw connections take the others.
 */
const MAX = 4;

/** An idle HTTP/2 connection, once the server has it. */
async function idleHttp2(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('close', () => reject(new Error('the server closed the connection')));
  });
  return session;
}

/** A TCP connection, open for as long as the server keeps it (resolves when the server closes it, or after `ms`). */
function closedWithin(port: number, ms: number): Promise<'closed by the server' | 'still open'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('still open');
    }, ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed by the server');
    });
  });
}

describe('GRPC_MAX_CONNECTIONS', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  const held: { close(): void }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { GRPC_MAX_CONNECTIONS: String(MAX) });
    ({ key } = await createTenantWithKey(db.pool, 'connections'));
  });

  afterEach(() => {
    for (const connection of held.splice(0)) connection.close();
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when a port holds as many connections as the limit, then the next is closed as it is accepted and a new client gets UNAVAILABLE, while calls on connections it holds go on; once some close, new clients are served', async () => {
    // The test server's own client holds one connection.
    expect((await ingestUnary(server.ingest, withKey(key), { events: [makeEvent()] })).response?.accepted).toBe(1);
    for (let i = 1; i < MAX; i++) {
      const session = await idleHttp2(server.vault.grpcPort);
      held.push({ close: () => session.destroy() });
    }
    await expect(idleHttp2(server.vault.grpcPort)).rejects.toThrow('the server closed the connection');

    // A subchannel of its own: grpc-js would otherwise share the test server client's connection.
    const newcomer = new IngestServiceClient(server.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    try {
      const refused = await ingestUnary(newcomer, withKey(key), { events: [makeEvent()] }, { deadline: Date.now() + 2000 });
      expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(refused.error?.code);
      expect((await ingestUnary(server.ingest, withKey(key), { events: [makeEvent()] })).response?.accepted).toBe(1);

      for (const connection of held.splice(0)) connection.close();
      await eventually(async () => expect((await ingestUnary(newcomer, withKey(key), { events: [makeEvent()] }, { deadline: Date.now() + 2000 })).response?.accepted).toBe(1), 15_000);
    } finally {
      newcomer.close();
    }
    const warning = server.logs.records().find((record) => typeof record.msg === 'string' && record.msg.startsWith('gRPC connections past GRPC_MAX_CONNECTIONS'));
    expect(warning).toMatchObject({ level: 'warn', port: server.vault.grpcPort, maxConnections: MAX });
  });

  test('when the OTLP/HTTP port holds as many connections as the limit, then the next is closed as it is accepted; once one closes, a request is served', async () => {
    const otlpHttpPort = server.vault.otlpHttpPort!;
    for (let i = 0; i < MAX; i++) {
      const socket = net.connect(otlpHttpPort, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      held.push({ close: () => socket.destroy() });
    }
    expect(await closedWithin(otlpHttpPort, 2000)).toBe('closed by the server');
    held.shift()!.close();
    await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${otlpHttpPort}/v1/logs`, { method: 'POST', body: '{}', headers: { 'x-api-key': key, 'content-type': 'application/json' } });
      expect(response.status).toBe(200);
    });
  });
});
