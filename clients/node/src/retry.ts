import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { Status } from './gen/google/rpc/status';
import { RetryInfo } from './gen/google/rpc/error_details';

/** Exponential backoff with jitter, used when the server sent no RetryInfo. */
export interface BackoffOptions {
  /** The first retry's base delay (default 200 ms). */
  readonly initialBackoffMs?: number;
  /** The base delay never grows past this (default 10 000 ms). */
  readonly maxBackoffMs?: number;
  /** Growth of the base delay per retry (default 2). */
  readonly backoffMultiplier?: number;
}

/** What the client does with a failed call (docs/sdk.md, "Retries"). */
export type RetryDecision =
  | { readonly retry: true; readonly retryInfoMs: number | undefined }
  | { readonly retry: false };

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** The google.rpc.RetryInfo delay (ms) in an error's grpc-status-details-bin, if any. */
export function retryInfoDelayMs(metadata: Metadata | undefined): number | undefined {
  const bytes = metadata?.get('grpc-status-details-bin')[0];
  if (!(bytes instanceof Buffer)) return undefined;
  try {
    for (const detail of Status.decode(bytes).details) {
      if (detail.typeUrl !== RETRY_INFO_TYPE) continue;
      const delay = RetryInfo.decode(detail.value).retryDelay;
      return Math.max(0, (delay?.seconds ?? 0) * 1000 + (delay?.nanos ?? 0) / 1e6);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * The contract's rules (section 8): retry the whole call on UNAVAILABLE,
 * DEADLINE_EXCEEDED and ABORTED, and on RESOURCE_EXHAUSTED only when it carries
 * RetryInfo. Everything else (INVALID_ARGUMENT, UNAUTHENTICATED,
 * PERMISSION_DENIED, FAILED_PRECONDITION, UNIMPLEMENTED, INTERNAL, ...) is final.
 */
export function classify(error: ServiceError): RetryDecision {
  const retryInfoMs = retryInfoDelayMs(error.metadata);
  switch (error.code) {
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.ABORTED:
      return { retry: true, retryInfoMs };
    case status.RESOURCE_EXHAUSTED:
      return retryInfoMs === undefined ? { retry: false } : { retry: true, retryInfoMs };
    default:
      return { retry: false };
  }
}

/**
 * The wait before retry number `retry` (1 for the first): at least the RetryInfo
 * delay, plus up to 10 % of it as jitter; without RetryInfo, a base of
 * min(max, initial * multiplier^(retry-1)) drawn uniformly from [base/2, base].
 */
export function retryDelayMs(retry: number, retryInfoMs: number | undefined, options: BackoffOptions = {}, random: () => number = Math.random): number {
  if (retryInfoMs !== undefined) return retryInfoMs + random() * 0.1 * retryInfoMs;
  const initial = options.initialBackoffMs ?? 200;
  const max = options.maxBackoffMs ?? 10_000;
  const multiplier = options.backoffMultiplier ?? 2;
  const base = Math.min(max, initial * multiplier ** Math.max(0, retry - 1));
  return base / 2 + random() * (base / 2);
}

export function isServiceError(error: unknown): error is ServiceError {
  return typeof error === 'object' && error !== null && 'code' in error && typeof (error as { code: unknown }).code === 'number';
}
