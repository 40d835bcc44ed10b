import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { startDelayProxy, type DelayProxy } from '../../scripts/load/delay-proxy';

/** A TCP server that sends back whatever it gets. */
function startEcho(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.pipe(socket));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Sends `bytes` through `port` and resolves with what came back and when its first byte did (ms after sending). */
function echoThrough(port: number, bytes: Buffer): Promise<{ received: Buffer; firstByteMs: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let length = 0;
    let firstByteMs = -1;
    let sentAt = 0;
    socket.on('connect', () => {
      sentAt = performance.now();
      // In pieces, as a client writes frames.
      for (let at = 0; at < bytes.length; at += 7000) socket.write(bytes.subarray(at, at + 7000));
    });
    socket.on('data', (chunk: Buffer) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - sentAt;
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes.length) {
        socket.end();
        resolve({ received: Buffer.concat(chunks), firstByteMs });
      }
    });
    socket.on('error', reject);
  });
}

describe('the delay proxy (scripts/load/delay-proxy.ts)', () => {
  let echo: net.Server;
  let proxy: DelayProxy;

  beforeAll(async () => {
    echo = await startEcho();
    proxy = await startDelayProxy('127.0.0.1', (echo.address() as net.AddressInfo).port, 80);
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  test('when bytes go through it and back, then they all arrive in order, and not before the round trip it adds', async () => {
    const bytes = randomBytes(1024 * 1024);
    const { received, firstByteMs } = await echoThrough(proxy.port, bytes);
    expect(received.equals(bytes)).toBe(true);
    // Half the round trip each way; timers never fire early (a lower bound only: a busy machine can only add to it).
    expect(firstByteMs).toBeGreaterThanOrEqual(79);
  });
});
