#!/usr/bin/env node
/**
 * Measures, for each protobuf runtime that this machine can run, the deepest
 * JSON nesting of a stored payload that still decodes as a
 * google.protobuf.Struct inside a QueryEventsResponse, and prints a table
 * (docs/clients.md explains it; the default INGEST_MAX_PAYLOAD_DEPTH is chosen
 * from it).
 *
 *   npm run build && node scripts/clients/measure-depth.mjs [--max N] [--keep DIR]
 *
 * Depth counts as INGEST_MAX_PAYLOAD_DEPTH does: the payload's top object is
 * level 1 and every object or array inside adds one. What the runtimes limit
 * is message nesting: QueryEventsResponse > Event > Struct are 3 messages, each
 * further object level adds 3 (Struct.FieldsEntry, Value, Struct), each array
 * level 2 (Value, ListValue), and the scalar at the bottom 2 (FieldsEntry,
 * Value) or 1 (Value). Three shapes are measured: objects only, arrays under
 * the top object, and the two alternating. Each case is one response with one
 * event, encoded by the generated code in dist/gen (the server's encoder writes
 * the same bytes).
 *
 * Runtimes: Node (ts-proto, @bufbuild/protobuf, @grpc/proto-loader) always;
 * Python (python3-protobuf, each backend it has), Go (Debian's
 * golang-google-protobuf-dev, GOPATH mode, offline), Java (libprotobuf-java)
 * and C++ (libprotobuf-dev) when their toolchain is installed, otherwise the
 * row says what is missing. Code is generated with plain
 * `protoc -I proto proto/telemetry/v1/*.proto`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const decoders = path.join(here, 'depth');
const contractFiles = fs.readdirSync(path.join(root, 'proto/telemetry/v1')).filter((name) => name.endsWith('.proto')).map((name) => `proto/telemetry/v1/${name}`);

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
/** Every level up to --max, then a few far beyond, to show where a runtime has no practical limit. */
const maxDense = Number(option('--max', '130'));
const LEVELS = [...Array.from({ length: maxDense }, (_, i) => i + 1), 200, 500, 1000].filter((level, i, all) => all.indexOf(level) === i);
const SHAPES = {
  objects: () => 'object',
  arrays: (level) => (level === 1 ? 'object' : 'array'),
  mixed: (level) => (level % 2 === 1 ? 'object' : 'array'),
};

/** A payload `levels` deep in `shape`, with the number 1 at the bottom. */
function payload(shape, levels) {
  let value = 1;
  for (let level = levels; level >= 1; level--) value = SHAPES[shape](level) === 'object' ? { k: value } : [value];
  return value;
}

/** How deep the deepest message of that response sits (the response itself is 1). */
function messageNesting(shape, levels) {
  let nesting = 3; // QueryEventsResponse > Event > Struct (level 1)
  for (let level = 2; level <= levels; level++) {
    nesting += SHAPES[shape](level - 1) === 'object' ? 1 : 0; // the FieldsEntry that holds it
    nesting += 2; // Value + Struct, or Value + ListValue
  }
  return nesting + (SHAPES[shape](levels) === 'object' ? 2 : 1); // the scalar's FieldsEntry + Value, or Value
}

function writeCases(dir) {
  const distGen = path.join(root, 'dist/gen/telemetry/v1/query_service.js');
  if (!fs.existsSync(distGen)) throw new Error('dist/gen is missing: run `npm run build` first');
  const { QueryEventsResponse } = require(distGen);
  const now = { seconds: Math.floor(Date.now() / 1000), nanos: 0 };
  for (const shape of Object.keys(SHAPES)) {
    for (const levels of LEVELS) {
      const event = { eventId: `${shape}-${levels}`, timestamp: now, eventType: 'log', serviceName: 'depth', payload: payload(shape, levels), payloadJson: undefined, receivedAt: now };
      const bytes = QueryEventsResponse.encode({ events: [event], nextCursor: '', hasMore: false, totalCount: 1 }).finish();
      fs.writeFileSync(path.join(dir, `${shape}-${String(levels).padStart(4, '0')}.bin`), bytes);
    }
  }
}

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const run = (command, commandArgs, options = {}) => execFileSync(command, commandArgs, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], ...options });

/** "(Debian PACKAGE VERSION)" when dpkg knows the package, else nothing. */
function debianVersion(pkg) {
  const result = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
  return result.status === 0 && result.stdout ? ` (Debian ${pkg} ${result.stdout})` : '';
}

/** The first python3 that has google.protobuf: Debian's /usr/bin/python3 before whatever PATH finds. */
function python() {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(candidate, ['-c', 'import google.protobuf'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/** Each runtime: `prepare(work)` returns a reason when it cannot run here, else the command that decodes the cases. */
const RUNTIMES = [
  ...['ts-proto', 'bufbuild', 'proto-loader'].map((name) => ({ name: `node ${name}`, prepare: () => ({ command: process.execPath, args: [path.join(decoders, 'decode.js'), name] }) })),
  ...['default', 'python'].map((backend) => ({
    name: backend === 'default' ? 'python' : 'python (pure-Python backend)',
    prepare(work) {
      const interpreter = python();
      if (!interpreter) return 'no python3 with google.protobuf (apt-get install python3-protobuf)';
      const out = path.join(work, 'python');
      if (!fs.existsSync(out)) {
        fs.mkdirSync(out);
        if (has('protoc')) run('protoc', ['-I', 'proto', `--python_out=${out}`, ...contractFiles]);
        else if (spawnSync(interpreter, ['-c', 'import grpc_tools'], { stdio: 'ignore' }).status === 0) run(interpreter, ['-m', 'grpc_tools.protoc', '-I', 'proto', `--python_out=${out}`, ...contractFiles]);
        else return 'no protoc and no grpc_tools (apt-get install protobuf-compiler)';
      }
      const env = backend === 'python' ? { ...process.env, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION: 'python' } : process.env;
      return { command: interpreter, args: [path.join(decoders, 'decode.py'), out], env };
    },
  })),
  {
    name: 'go',
    prepare(work) {
      const gocode = process.env.DEPTH_GOCODE ?? '/usr/share/gocode';
      const missing = ['go', 'protoc', 'protoc-gen-go'].filter((command) => !has(command));
      if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install golang-go protobuf-compiler protoc-gen-go golang-google-protobuf-dev)`;
      if (!fs.existsSync(path.join(gocode, 'src/google.golang.org/protobuf/proto'))) return `no google.golang.org/protobuf under ${gocode} (apt-get install golang-google-protobuf-dev)`;
      const gopath = path.join(work, 'go');
      fs.mkdirSync(path.join(gopath, 'src/depthdecode'), { recursive: true });
      run('protoc', ['-I', 'proto', `--go_out=${path.join(gopath, 'src')}`, ...contractFiles]);
      fs.copyFileSync(path.join(decoders, 'decode.go'), path.join(gopath, 'src/depthdecode/main.go'));
      const binary = path.join(work, 'go-decode');
      // GOPATH mode: Debian ships the sources, and there is no module proxy to reach.
      run('go', ['build', '-o', binary, '.'], { cwd: path.join(gopath, 'src/depthdecode'), env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${gocode}`, GOCACHE: path.join(work, 'gocache'), GOFLAGS: '' } });
      return { command: binary, args: [], version: debianVersion('golang-google-protobuf-dev') };
    },
  },
  {
    name: 'java',
    prepare(work) {
      const jar = process.env.DEPTH_PROTOBUF_JAR ?? '/usr/share/java/protobuf.jar';
      const missing = ['javac', 'java', 'protoc'].filter((command) => !has(command));
      if (missing.length > 0) return `missing ${missing.join(', ')} (a JDK, and apt-get install protobuf-compiler)`;
      if (!fs.existsSync(jar)) return `no ${jar} (apt-get install libprotobuf-java)`;
      const sources = path.join(work, 'java-src');
      const classes = path.join(work, 'java-classes');
      fs.mkdirSync(sources);
      fs.mkdirSync(classes);
      run('protoc', ['-I', 'proto', `--java_out=${sources}`, ...contractFiles]);
      const javaFiles = run('find', [sources, '-name', '*.java']).trim().split('\n');
      run('javac', ['-nowarn', '-encoding', 'UTF-8', '-cp', jar, '-d', classes, path.join(decoders, 'Decode.java'), ...javaFiles]);
      return { command: 'java', args: ['-cp', `${jar}:${classes}`, 'Decode'] };
    },
  },
  {
    name: 'c++',
    prepare(work) {
      const missing = ['g++', 'protoc'].filter((command) => !has(command));
      if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install g++ protobuf-compiler libprotobuf-dev)`;
      if (!fs.existsSync('/usr/include/google/protobuf/message.h')) return 'no protobuf headers (apt-get install libprotobuf-dev)';
      const out = path.join(work, 'cpp');
      fs.mkdirSync(out);
      run('protoc', ['-I', 'proto', `--cpp_out=${out}`, ...contractFiles]);
      const binary = path.join(work, 'cpp-decode');
      const sources = contractFiles.map((file) => path.join(out, file.replace(/^proto\//, '').replace(/\.proto$/, '.pb.cc')));
      run('g++', ['-std=c++17', '-O1', '-I', out, '-o', binary, path.join(decoders, 'decode.cc'), ...sources, '-lprotobuf', '-pthread']);
      return { command: binary, args: [] };
    },
  },
];

/** Per shape: the deepest level such that it and every shallower level decode, and the first failure's error. */
function summarize(output) {
  const lines = output.trim().split('\n').map((line) => line.split('\t'));
  const label = lines.find(([name]) => name === 'runtime')?.[1] ?? '';
  const byShape = {};
  for (const shape of Object.keys(SHAPES)) {
    const cases = lines.filter(([name]) => name.startsWith(`${shape}-`)).map(([name, verdict, error]) => ({ levels: Number(name.slice(shape.length + 1, -4)), ok: verdict === 'ok', error }));
    cases.sort((a, b) => a.levels - b.levels);
    const firstFailure = cases.find((entry) => !entry.ok);
    const deepest = firstFailure ? cases[cases.indexOf(firstFailure) - 1]?.levels ?? 0 : cases.at(-1).levels;
    // Past --max the levels are sparse: the limit is then somewhere below the failing level.
    const failsAt = firstFailure?.levels;
    // A runtime that fails at some level and decodes a deeper one would make "deepest" meaningless: say so.
    const laterSuccess = firstFailure ? cases.some((entry) => entry.ok && entry.levels > firstFailure.levels) : false;
    byShape[shape] = { deepest, failsAt, error: firstFailure?.error, laterSuccess };
  }
  return { label, byShape };
}

function main() {
  const work = args.includes('--keep') ? path.resolve(option('--keep')) : fs.mkdtempSync(path.join(os.tmpdir(), 'tv-depth-'));
  fs.mkdirSync(work, { recursive: true });
  const cases = path.join(work, 'cases');
  fs.rmSync(cases, { recursive: true, force: true });
  fs.mkdirSync(cases);
  writeCases(cases);
  const { loadConfig } = require(path.join(root, 'dist/config/load-config.js'));
  const configured = loadConfig({}).ingest.maxPayloadDepth;

  const rows = [];
  for (const runtime of RUNTIMES) {
    let prepared;
    try {
      prepared = runtime.prepare(work);
    } catch (error) {
      prepared = `could not build: ${String(error.stderr || error.message).trim().split('\n').slice(0, 3).join(' ')}`;
    }
    if (typeof prepared === 'string') {
      rows.push({ name: runtime.name, skipped: prepared });
      continue;
    }
    const output = run(prepared.command, [...prepared.args, cases], { env: prepared.env ?? process.env });
    const summary = summarize(output);
    rows.push({ name: runtime.name, ...summary, label: summary.label + (prepared.version ?? '') });
  }

  const cell = (entry, shape) => {
    if (entry.failsAt === undefined) return `>= ${entry.deepest}`;
    if (entry.failsAt > entry.deepest + 1) return `${entry.deepest}..${entry.failsAt - 1}`;
    return `${entry.deepest} (${messageNesting(shape, entry.deepest)} msgs)`;
  };
  console.log(`Deepest payload nesting (INGEST_MAX_PAYLOAD_DEPTH levels; top object = 1) that decodes as a Struct inside a QueryEventsResponse.`);
  console.log(`"N (M msgs)": N levels decode, N+1 fail; M = nesting of the deepest message at N. "A..B": A decodes, B+1 fails, not measured between. ">= N": no failure up to N.\n`);
  console.log('| runtime | version | objects | arrays | mixed | first error |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    if (row.skipped) {
      console.log(`| ${row.name} | not run: ${row.skipped} | | | | |`);
      continue;
    }
    const error = Object.values(row.byShape).find((entry) => entry.error)?.error ?? '';
    console.log(`| ${row.name} | ${row.label} | ${Object.keys(SHAPES).map((shape) => cell(row.byShape[shape], shape)).join(' | ')} | ${error.replace(/\|/g, '/')} |`);
    for (const [shape, entry] of Object.entries(row.byShape)) {
      if (entry.laterSuccess) console.log(`  (${row.name}, ${shape}: a deeper case decoded after the first failure: not a plain depth limit)`);
    }
  }
  const measured = rows.filter((row) => !row.skipped);
  const everyone = Math.min(...measured.flatMap((row) => Object.values(row.byShape).map((entry) => entry.deepest)));
  console.log(`\nEvery runtime measured decodes every shape up to ${everyone} levels.`);
  console.log(`The default INGEST_MAX_PAYLOAD_DEPTH is ${configured}: ${configured <= everyone ? 'every stored payload decodes in every runtime measured' : `payloads deeper than ${everyone} levels fail to decode in some runtime`}.`);
  const skipped = rows.filter((row) => row.skipped).map((row) => row.name);
  if (skipped.length > 0) console.log(`Not measured here: ${skipped.join(', ')}.`);
  if (!args.includes('--keep')) fs.rmSync(work, { recursive: true, force: true });
}

main();
