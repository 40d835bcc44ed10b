import type { Metadata } from '@grpc/grpc-js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The API key a call carries: `x-api-key`, or `authorization: Bearer <key>`.
 * A call carrying two different keys (two `x-api-key` or Bearer values, or
 * one of each) carries none the server may pick from: undefined, which
 * authentication refuses like a wrong key. Repeating the same key is fine;
 * an `authorization` header with another scheme (Basic, say) is not an API
 * key and is ignored.
 */
export function apiKeyOf(metadata: Metadata): string | undefined {
  const keys = new Set<string>();
  for (const value of valuesOf(metadata, 'x-api-key')) keys.add(value);
  for (const value of valuesOf(metadata, 'authorization')) {
    const bearer = BEARER.exec(value);
    if (bearer) keys.add(bearer[1]!);
  }
  return keys.size === 1 ? keys.values().next().value : undefined;
}

/** A header's non-empty values; a repeated header may also arrive joined by ", " (keys hold no comma). */
function valuesOf(metadata: Metadata, key: string): string[] {
  return metadata
    .get(key)
    .flatMap((value) => (typeof value === 'string' ? value.split(',') : []))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}
