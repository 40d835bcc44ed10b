import http2 from 'node:http2';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../../src/transport/grpc/connection-window';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';

/** The connection-level window the server grants a fresh HTTP/2 connection to `port`, as the client sees it once the server's first frames are in. */
async function grantedWindow(port: number): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    // The server's WINDOW_UPDATE follows its SETTINGS; a ping's answer comes after both.
    await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
    return session.state.remoteWindowSize!;
  } finally {
    session.close();
  }
}

describe('the HTTP/2 connection window (GRPC_CONNECTION_WINDOW)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  describe('by default', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(db.url);
    });
    afterAll(async () => server.stop());

    test('when a client connects, then its connection has HTTP/2\'s own 64 KiB receive window', async () => {
      expect(await grantedWindow(server.vault.grpcPort)).toBe(HTTP2_DEFAULT_WINDOW_BYTES);
    });
  });

  describe('when set', () => {
    test('when GRPC_CONNECTION_WINDOW is 8MiB or 1MiB, then connections to GRPC_PORT and OTLP_GRPC_PORT get that window', async () => {
      for (const [setting, expected] of [['8MiB', 8 * 1024 * 1024], ['1MiB', 1024 * 1024]] as const) {
        const server = await startTestServer(db.url, { GRPC_CONNECTION_WINDOW: setting, OTLP_GRPC_PORT: '0' });
        try {
          expect(await grantedWindow(server.vault.grpcPort)).toBe(expected);
          expect(await grantedWindow(server.vault.otlpGrpcPort!)).toBe(expected);
        } finally {
          await server.stop();
        }
      }
    });
  });
});
