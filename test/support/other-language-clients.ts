import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '../..');
const CLIENTS = path.join(ROOT, 'test/clients');
/** Where Debian's golang-*-dev packages put their sources. */
const GOCODE = '/usr/share/gocode';

/** The contract's files, as a shell would expand proto/telemetry/v1/*.proto (relative to the checkout). */
const CONTRACT_FILES = fs
  .readdirSync(path.join(ROOT, 'proto/telemetry/v1'))
  .filter((name) => name.endsWith('.proto'))
  .sort()
  .map((name) => `proto/telemetry/v1/${name}`);

/** What a client is asked to do: one Ingest of `event` (payload as a Struct), then one QueryEvents for its service. */
export interface ClientRequest {
  readonly address: string;
  readonly apiKey: string;
  readonly event: { readonly eventId: string; readonly eventType: string; readonly serviceName: string; readonly payload: Record<string, unknown> };
}

/** What a client printed: the Ingest response and the events QueryEvents returned, or the failed call. */
export interface ClientReport {
  readonly ingest?: { accepted: number; duplicates: number; rejected: number; reasons: string[] };
  readonly events?: { eventId: string; eventType: string; serviceName: string; payloadKind: string; payload: unknown; hasReceivedAt: boolean }[];
  readonly error?: { call: string; code: string; details: string };
  readonly protobufBackend?: string;
}

/** A client in another language, generated and built from proto/. */
export interface LanguageClient {
  /** The command that generated its code, as a user would type it. */
  readonly generatedWith: string;
  run(request: ClientRequest): Promise<ClientReport>;
}

/** A toolchain found on this machine, or the reason the client cannot be built here. */
export type Toolchain = { readonly build: (workDir: string) => Promise<LanguageClient> } | { readonly missing: string };

const runs = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const onPath = (command: string): boolean => runs('sh', ['-c', `command -v ${command}`]);

/** Runs a built client: the request as JSON on stdin, its report as JSON on stdout. */
function runClient(command: string, args: string[], request: ClientRequest): Promise<ClientReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(stdout) as ClientReport);
      } catch {
        reject(new Error(`${command} exited with ${code} and printed no report:\n${stdout}\n${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

/** The first python3 with grpcio and grpc_tools: Debian's /usr/bin/python3 (python3-grpc-tools) before whatever PATH finds. */
export function pythonWithGrpcTools(): string | undefined {
  return ['/usr/bin/python3', 'python3'].find((candidate) => runs(candidate, ['-c', 'import grpc, grpc_tools.protoc, google.protobuf']));
}

/**
 * The Python client (test/clients/python/client.py), generated with
 * `python3 -m grpc_tools.protoc` on pythonWithGrpcTools().
 */
export function pythonToolchain(): Toolchain {
  const python = pythonWithGrpcTools();
  if (!python) return { missing: 'no python3 with grpcio and grpc_tools (apt-get install python3-grpc-tools)' };
  return {
    build: async (workDir) => {
      const out = path.join(workDir, 'python');
      fs.mkdirSync(out, { recursive: true });
      const args = ['-m', 'grpc_tools.protoc', '-I', 'proto', `--python_out=${out}`, `--grpc_python_out=${out}`, ...CONTRACT_FILES];
      await promisify(execFile)(python, args, { cwd: ROOT });
      return {
        generatedWith: `${python} ${args.join(' ').replace(new RegExp(out, 'g'), 'OUT')}`,
        run: (request) => runClient(python, [path.join(CLIENTS, 'python/client.py'), out], request),
      };
    },
  };
}

/**
 * The Go client (test/clients/go/main.go), built offline in GOPATH mode against
 * the sources Debian's golang-google-grpc-dev and golang-google-protobuf-dev
 * install under /usr/share/gocode: there is no module proxy to reach, and the
 * generated package sits at its go_package import path.
 */
export function goToolchain(): Toolchain {
  const missing = ['go', 'protoc', 'protoc-gen-go', 'protoc-gen-go-grpc'].filter((command) => !onPath(command));
  for (const pkg of ['google.golang.org/grpc', 'google.golang.org/protobuf/proto']) {
    if (!fs.existsSync(path.join(GOCODE, 'src', pkg))) missing.push(`${GOCODE}/src/${pkg}`);
  }
  if (missing.length > 0) {
    return { missing: `missing ${missing.join(', ')} (apt-get install golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev)` };
  }
  return {
    build: async (workDir) => {
      const gopath = path.join(workDir, 'go');
      const main = path.join(gopath, 'src/vaultclient');
      fs.mkdirSync(main, { recursive: true });
      const src = path.join(gopath, 'src');
      const args = ['-I', 'proto', `--go_out=${src}`, `--go-grpc_out=${src}`, ...CONTRACT_FILES];
      await promisify(execFile)('protoc', args, { cwd: ROOT });
      fs.copyFileSync(path.join(CLIENTS, 'go/main.go'), path.join(main, 'main.go'));
      const binary = path.join(workDir, 'vaultclient');
      const env = {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: `${gopath}:${GOCODE}`,
        GOFLAGS: '',
        GOPROXY: 'off',
        // Per user: root's cache and a regular user's must not share a directory.
        GOCACHE: path.join(os.tmpdir(), `tv-go-build-cache-${os.userInfo().uid}`),
      };
      await promisify(execFile)('go', ['build', '-o', binary, '.'], { cwd: main, env });
      return { generatedWith: `protoc ${args.join(' ').replace(new RegExp(src, 'g'), 'OUT')}`, run: (request) => runClient(binary, [], request) };
    },
  };
}
