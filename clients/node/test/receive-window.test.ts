import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { VaultClient } from '../src';
import { RECEIVE_WINDOW_BYTES } from '../src/connection';

/**
 * A bare HTTP/2 server that answers every call UNIMPLEMENTED and reports,
 * for the first connection, the windows the client grants it: the initial
 * stream window from the client's SETTINGS, and the connection window once
 * a ping has crossed after them.
 */
async function windowsGranted(connect: (address: string) => Promise<unknown>): Promise<{ stream: number | undefined; connection: number | undefined }> {
  const server = http2.createServer();
  server.on('stream', (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true }));
  const granted = new Promise<{ stream: number | undefined; connection: number | undefined }>((resolve) =>
    server.once('session', (session) =>
      session.once('remoteSettings', (settings) => session.ping(() => resolve({ stream: settings.initialWindowSize, connection: session.state.remoteWindowSize }))),
    ),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await connect(`127.0.0.1:${(server.address() as AddressInfo).port}`).catch(() => undefined);
    return await granted;
  } finally {
    server.close();
  }
}

describe('the Node.js client\'s HTTP/2 receive window', () => {
  test('when the client connects, then it grants the server an 8 MiB window per call and per connection, not HTTP/2\'s 64 KiB, so that query results are not held to 64 KiB per round trip', async () => {
    const granted = await windowsGranted(async (address) => {
      const client = new VaultClient({ address, apiKey: 'tv_test' });
      try {
        await client.aggregate({}, { groupBy: ['event_type'] });
      } finally {
        client.close();
      }
    });
    expect(RECEIVE_WINDOW_BYTES).toBe(8 * 1024 * 1024);
    expect(granted).toEqual({ stream: RECEIVE_WINDOW_BYTES, connection: RECEIVE_WINDOW_BYTES });
  });

  test('when channelOptions set grpc-node.flow_control_window, then that window is granted instead', async () => {
    const granted = await windowsGranted(async (address) => {
      const client = new VaultClient({ address, apiKey: 'tv_test', channelOptions: { 'grpc-node.flow_control_window': 1024 * 1024 } });
      try {
        await client.aggregate({}, { groupBy: ['event_type'] });
      } finally {
        client.close();
      }
    });
    expect(granted).toEqual({ stream: 1024 * 1024, connection: 1024 * 1024 });
  });
});
