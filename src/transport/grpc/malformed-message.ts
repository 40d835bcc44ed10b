import { VaultError } from '../../domain/vault-error';

/**
 * What a request deserializer returns instead of throwing, so that bytes that
 * are not a valid message become INVALID_ARGUMENT (grpc-js would answer
 * INTERNAL, which tells clients the server is at fault).
 */
export class MalformedMessage {
  constructor(readonly typeName: string, readonly reason: string) {}

  toError(): VaultError {
    return new VaultError('INVALID_ARGUMENT', `the request is not a valid ${this.typeName} message: ${this.reason}`);
  }
}

/** Wraps a generated deserializer so that it never throws. */
export function safeDeserializer<T>(typeName: string, deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T | MalformedMessage {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (error) {
      return new MalformedMessage(typeName, error instanceof Error ? error.message : String(error));
    }
  };
}

/** Throws INVALID_ARGUMENT when a received message could not be decoded. */
export function assertWellFormed<T>(message: T | MalformedMessage): T {
  if (message instanceof MalformedMessage) throw message.toError();
  return message;
}
