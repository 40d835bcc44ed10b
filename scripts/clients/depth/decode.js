'use strict';
/**
 * Decodes each case file (a serialized telemetry.v1.QueryEventsResponse) the
 * way a Node.js client does, and prints one line per file: "<file>\tok" or
 * "<file>\tfail\t<error>". RUNTIME is one of:
 *   ts-proto     the server's own generated code (dist/gen, as the tests' clients use it)
 *   bufbuild     @bufbuild/protobuf's fromBinary with a registry of buf's descriptors
 *   proto-loader @grpc/proto-loader's response deserializer (protobufjs), the usual grpc-js client
 *
 * Usage: node decode.js RUNTIME CASES_DIR   (after `npm run build`)
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../../..');
const [runtime, casesDir] = process.argv.slice(2);

function version(name) {
  // Read from node_modules directly: some packages' "exports" hide package.json from require.resolve.
  return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
}

function decoder() {
  if (runtime === 'ts-proto') {
    const { QueryEventsResponse } = require(path.join(root, 'dist/gen/telemetry/v1/query_service.js'));
    return { label: `ts-proto ${version('ts-proto')} (BinaryReader of @bufbuild/protobuf ${version('@bufbuild/protobuf')})`, decode: (bytes) => QueryEventsResponse.decode(bytes) };
  }
  if (runtime === 'bufbuild') {
    const { createFileRegistry, fromBinary } = require('@bufbuild/protobuf');
    const { FileDescriptorSetSchema } = require('@bufbuild/protobuf/wkt');
    const { descriptorSetBase64 } = require(path.join(root, 'dist/gen/descriptor-set.js'));
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, 'base64')));
    const schema = registry.getMessage('telemetry.v1.QueryEventsResponse');
    return { label: `@bufbuild/protobuf ${version('@bufbuild/protobuf')} fromBinary`, decode: (bytes) => fromBinary(schema, bytes) };
  }
  if (runtime === 'proto-loader') {
    const { loadSync } = require('@grpc/proto-loader');
    const definition = loadSync('telemetry/v1/query_service.proto', { includeDirs: [path.join(root, 'proto')] });
    const method = definition['telemetry.v1.QueryService'].QueryEvents;
    return { label: `@grpc/proto-loader ${version('@grpc/proto-loader')} (protobufjs ${version('protobufjs')})`, decode: (bytes) => method.responseDeserialize(bytes) };
  }
  throw new Error(`unknown runtime ${runtime}`);
}

const { label, decode } = decoder();
console.log(`runtime\t${label}`);
for (const name of fs.readdirSync(casesDir).sort()) {
  try {
    decode(fs.readFileSync(path.join(casesDir, name)));
    console.log(`${name}\tok`);
  } catch (error) {
    console.log(`${name}\tfail\t${String(error.message).slice(0, 120)}`);
  }
}
