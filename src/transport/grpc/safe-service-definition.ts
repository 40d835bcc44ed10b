import type { ServiceDefinition } from '@grpc/grpc-js';
import { safeDeserializer } from './malformed-message';

interface GeneratedMethod {
  readonly path: string;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
}

/**
 * A generated service definition whose request deserializers never throw
 * (see MalformedMessage): undecodable bytes reach the handler, which answers
 * INVALID_ARGUMENT naming the message type. `decoders` replace the generated
 * deserializers of the methods they name (see createRequestDecoders).
 */
export function safeServiceDefinition<T extends Record<string, GeneratedMethod>>(
  definition: T,
  requestTypeNames: { readonly [K in keyof T]: string },
  decoders: { readonly [K in keyof T]?: (bytes: Uint8Array) => unknown } = {},
): ServiceDefinition {
  const safe: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = decoders[name as keyof T] ?? method.requestDeserialize;
    safe[name] = { ...method, requestDeserialize: safeDeserializer(requestTypeNames[name as keyof T], decode) };
  }
  return safe as unknown as ServiceDefinition;
}
