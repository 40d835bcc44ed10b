import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildService, findBinary, freePort, runs, waitForPort } from './processes';

/** The example configuration the drill runs (one source of truth with the docs). */
export const NGINX_CONF = path.resolve(__dirname, '../../../deploy/nginx/nginx.conf');

/** Undefined when nginx can run here, else why not (for the skip message). */
export function nginxUnavailableReason(): string | undefined {
  const binary = findBinary(['nginx']);
  if (!runs(binary, ['-v'])) return 'nginx is not installed (Debian package nginx; .ci/run installs it): the balancer drill needs a real gRPC load balancer';
  return undefined;
}

/**
 * deploy/nginx/nginx.conf with the upstream `server` lines pointed at
 * `upstreamPorts` (their parameters kept) and `listen` at `port`; one worker,
 * since the drill's machine has two cores.
 */
export function renderNginxConf(upstreamPorts: readonly number[], port: number): string {
  const source = fs.readFileSync(NGINX_CONF, 'utf8');
  const servers = [...source.matchAll(/^(\s*)server 127\.0\.0\.1:\d+ (.*);$/gm)];
  if (servers.length !== upstreamPorts.length) throw new Error(`${NGINX_CONF} has ${servers.length} upstream servers; the drill runs ${upstreamPorts.length}`);
  let index = 0;
  return source
    .replace(/^(\s*)server 127\.0\.0\.1:\d+ (.*);$/gm, (_line, indent: string, parameters: string) => `${indent}server 127.0.0.1:${upstreamPorts[index++]} ${parameters};`)
    .replace(/^(\s*)listen \d+ http2;$/m, `$1listen 127.0.0.1:${port} http2;`)
    .replace(/^worker_processes auto;$/m, 'worker_processes 1;');
}

/** nginx in front of the drill's instances. */
export interface NginxBalancer {
  readonly port: number;
  readonly address: string;
  /** The error log so far (upstream failures nginx saw). */
  errorLog(): string;
  stop(): Promise<void>;
}

/** nginx running deploy/nginx/nginx.conf (changed by `edit`, for a test of one setting) in front of `upstreamPorts`. */
export async function startNginx(upstreamPorts: readonly number[], edit: (conf: string) => string = (conf) => conf): Promise<NginxBalancer> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-scale-nginx-'));
  fs.chmodSync(prefix, 0o755); // workers run as nobody when nginx starts as root
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, edit(renderNginxConf(upstreamPorts, port)));
  const errorLog = path.join(prefix, 'error.log');
  const child = new ChildService('nginx', findBinary(['nginx'])!, ['-p', prefix, '-c', conf, '-e', errorLog, '-g', `daemon off; pid ${path.join(prefix, 'nginx.pid')}; error_log ${errorLog} warn;`]);
  await waitForPort(port, 15_000, `nginx (${child.output})`);
  return {
    port,
    address: `127.0.0.1:${port}`,
    errorLog: () => (fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''),
    stop: async () => {
      await child.stop('SIGQUIT');
      fs.rmSync(prefix, { recursive: true, force: true });
    },
  };
}
