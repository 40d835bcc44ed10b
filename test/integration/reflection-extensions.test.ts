import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type DescriptorProto } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { ReflectionClient } from '../support/reflection-client';
import { startTestServer, type TestServer } from '../support/test-server';

/** Every message type (nested ones included) of the files reflection serves for these symbols and files, imports included. */
async function servedMessageTypes(reflection: ReflectionClient): Promise<string[]> {
  const encoded = [
    ...(await reflection.fileContainingSymbol('telemetry.v1.IngestService')),
    ...(await reflection.fileContainingSymbol('telemetry.v1.QueryService')),
    ...(await reflection.fileByFilename('google/rpc/error_details.proto')),
    ...(await reflection.fileByFilename('google/rpc/status.proto')),
  ];
  const names = new Set<string>();
  const add = (scope: string, messages: readonly DescriptorProto[]): void => {
    for (const message of messages) {
      names.add(`${scope}.${message.name}`);
      add(`${scope}.${message.name}`, message.nestedType);
    }
  };
  for (const bytes of encoded) {
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    add(file.package, file.messageType);
  }
  return [...names].sort();
}

describe.each(['v1', 'v1alpha'] as const)('reflection %s all_extension_numbers_of_type', (version) => {
  let db: TestDatabase;
  let server: TestServer;
  let reflection: ReflectionClient;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    server = await startTestServer(db.url);
    reflection = new ReflectionClient(server.address, version);
  });

  afterAll(async () => {
    reflection.close();
    await server.stop();
    await db.drop();
  });

  // grpcurl 1.8.7 and older ask this for every message it decodes; NOT_FOUND made it print error details as base64.
  test('when asked for a message type it serves that has no extensions, then it answers an empty list, not NOT_FOUND', async () => {
    const types = await servedMessageTypes(reflection);
    expect(types).toEqual(
      expect.arrayContaining(['telemetry.v1.Event', 'telemetry.v1.QueryEventsResponse', 'google.rpc.RetryInfo', 'google.rpc.BadRequest', 'google.rpc.BadRequest.FieldViolation', 'google.rpc.Status', 'google.protobuf.Struct', 'google.protobuf.Struct.FieldsEntry', 'google.protobuf.Timestamp']),
    );
    for (const type of types) {
      expect({ type, answer: await reflection.allExtensionNumbersOfType(type) }).toEqual({ type, answer: { baseTypeName: type, extensionNumbers: [] } });
    }
  });

  test('when asked for a type it does not know, then it answers NOT_FOUND', async () => {
    expect(await reflection.allExtensionNumbersOfType('telemetry.v1.NoSuchMessage')).toEqual({ errorCode: status.NOT_FOUND, errorMessage: expect.stringContaining('telemetry.v1.NoSuchMessage') });
  });
});
