import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto } from '@bufbuild/protobuf/wkt';
// The implementations behind @grpc/reflection's ReflectionService facade, which
// offers no way to change an answer (the package has no "exports" map, so the
// typed build files are importable).
import { ReflectionV1Implementation } from '@grpc/reflection/build/src/implementations/reflection-v1';
import { ReflectionV1AlphaImplementation } from '@grpc/reflection/build/src/implementations/reflection-v1alpha';
import { descriptorSetBase64 } from '../../gen/descriptor-set';

/**
 * Registers server reflection (grpc.reflection.v1 and v1alpha) over the exact
 * FileDescriptorProtos that buf built from proto/ and third_party/proto/,
 * imports included.
 *
 * The usual setup hands @grpc/reflection a package definition from
 * proto-loader, whose re-generated descriptors lose the well-known types'
 * file names; grpcurl then fails with "unresolvable reference to
 * google.protobuf.Timestamp" (grpcurl issue #459). Serving buf's own
 * descriptors keeps every file, google/protobuf/*.proto and google/rpc/*.proto
 * included, under its real name.
 *
 * `all_extension_numbers_of_type` answers an empty list for a message type
 * that has no extensions, as grpc-go and grpc-java do, instead of
 * @grpc/reflection's NOT_FOUND: grpcurl 1.8.7 and older asks it for every
 * message it decodes, and on NOT_FOUND gives up on the type, printing each
 * error detail (RetryInfo, BadRequest...) as undecoded base64. Unknown types
 * still get NOT_FOUND.
 */
export function addReflection(server: Server): void {
  const files = splitDescriptorSet(Buffer.from(descriptorSetBase64, 'base64'));
  // The implementations read only `fileDescriptorProtos` from the package definition's entries.
  const definition = { 'telemetry.v1': { fileDescriptorProtos: files } } as unknown as PackageDefinition;
  const messageTypes = messageTypeNames(files);
  for (const Implementation of [ReflectionV1Implementation, ReflectionV1AlphaImplementation]) {
    new (listingNoExtensionsAsEmpty(Implementation, messageTypes))(definition).addToServer(server);
  }
}

/** The serialized FileDescriptorProtos of a FileDescriptorSet (field 1, repeated). */
export function splitDescriptorSet(bytes: Uint8Array): Buffer[] {
  const reader = new BinaryReader(bytes);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) files.push(Buffer.from(reader.bytes()));
    else reader.skip(tag & 7);
  }
  return files;
}

/** `Base` answering all_extension_numbers_of_type for a message type with no extensions by an empty list. */
function listingNoExtensionsAsEmpty(Base: typeof ReflectionV1Implementation, messageTypes: ReadonlySet<string>): typeof ReflectionV1Implementation {
  return class extends Base {
    override allExtensionNumbersOfType(symbol: string): ReturnType<ReflectionV1Implementation['allExtensionNumbersOfType']> {
      try {
        return super.allExtensionNumbersOfType(symbol);
      } catch (error) {
        if (messageTypes.has(symbol)) return { baseTypeName: symbol, extensionNumber: [] };
        throw error;
      }
    }
  };
}

/** The full names (no leading dot) of every message type the files declare, nested and map-entry types included. */
function messageTypeNames(files: readonly Uint8Array[]): Set<string> {
  const names = new Set<string>();
  const add = (scope: string, messages: readonly DescriptorProto[]): void => {
    for (const message of messages) {
      const name = scope ? `${scope}.${message.name}` : message.name;
      names.add(name);
      add(name, message.nestedType);
    }
  };
  for (const bytes of files) {
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    add(file.package, file.messageType);
  }
  return names;
}
