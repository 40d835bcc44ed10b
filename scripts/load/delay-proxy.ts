/**
 * A TCP proxy that adds a round-trip time: every chunk, each way, is passed
 * on half the RTT after it arrived, in order. With it a load test on one
 * machine sees what a client across a network sees, above all HTTP/2 flow
 * control, which lets a connection carry at most one window of bytes per
 * round trip (docs/performance.md, "The connection window").
 *
 *   node -r ./scripts/register-ts.js scripts/load/delay-proxy.ts --target 127.0.0.1:50051 --rtt 20 [--listen 50099]
 *   npm run load -- --target 127.0.0.1:50099 --key tv_... --mode unary --batch 100 --streams 16
 *
 * It holds what is in transit in memory: a tool for tests on one machine,
 * not for untrusted peers.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

/** Passes `from`'s chunks to `to`, each `delayMs` after it arrived, in order. */
function delayed(from: net.Socket, to: net.Socket, delayMs: number): void {
  const queue: { readonly dueAt: number; readonly chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.dueAt <= now) to.write(queue.shift()!.chunk);
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.dueAt - now);
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ dueAt: performance.now() + delayMs, chunk });
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs + 1));
}

/** A listening delay proxy to `host`:`port`; `close` stops it and its connections. */
export interface DelayProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1:`listenPort` (0 = a free port) to `host`:`port` that adds `rttMs` to every round trip. */
export function startDelayProxy(host: string, port: number, rttMs: number, listenPort = 0): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host, port }, () => upstream.setNoDelay(true));
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => close());
      socket.on('close', () => {
        sockets.delete(socket);
        close();
      });
    }
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    delayed(client, upstream, rttMs / 2);
    delayed(upstream, client, rttMs / 2);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((closed) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => closed());
          }),
      }),
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { target: { type: 'string' }, rtt: { type: 'string', default: '20' }, listen: { type: 'string', default: '0' } } });
  const [host, port] = (values.target ?? '').split(':');
  if (!host || !port) throw new Error('--target HOST:PORT is required');
  const proxy = await startDelayProxy(host, Number(port), Number(values.rtt), Number(values.listen));
  process.stdout.write(`delay proxy on 127.0.0.1:${proxy.port} -> ${values.target}, round trip +${values.rtt} ms\n`);
}

if (require.main === module) void main();
