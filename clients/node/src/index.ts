/** @telemetry-vault/client: the Node.js client of Telemetry Vault (docs/sdk.md). */
export { VaultClient, type EventFilter, type Order, type PagesOptions, type Page, type EventsOptions, type AggregateOptions, type AggregateRow, type GroupField } from './client';
export type { ConnectionOptions } from './connection';
export type { EventInput, VaultEvent, JsonObject } from './convert';
export { Ingester, IngestError, BufferFullError, CloseTimeoutError, type IngesterOptions, type IngesterCounters, type RejectedEvent } from './ingester';
export { classify, retryDelayMs, retryInfoDelayMs, type BackoffOptions, type RetryDecision } from './retry';
export { uuidv7 } from './uuidv7';
export type { QueryRetry, QueryRetryOptions } from './query-retry';
