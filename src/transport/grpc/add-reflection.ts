import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { descriptorSetBase64 } from '../../gen/descriptor-set';

/**
 * Registers server reflection (grpc.reflection.v1 and v1alpha) over the exact
 * FileDescriptorProtos that buf built from proto/, imports included.
 *
 * The usual setup hands @grpc/reflection a package definition from
 * proto-loader, whose re-generated descriptors lose the well-known types'
 * file names; grpcurl then fails with "unresolvable reference to
 * google.protobuf.Timestamp" (grpcurl issue #459). Serving buf's own
 * descriptors keeps every file, google/protobuf/*.proto and google/rpc/*.proto
 * included, under its real name.
 */
export function addReflection(server: Server): void {
  const files = splitDescriptorSet(Buffer.from(descriptorSetBase64, 'base64'));
  // @grpc/reflection reads only `fileDescriptorProtos` from the package definition's entries.
  const definition = { 'telemetry.v1': { fileDescriptorProtos: files } } as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer(server);
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
