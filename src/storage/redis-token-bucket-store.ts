import { Redis } from 'ioredis';
import type { SharedTokenBucketStore } from '../domain/rate-limit/failover-token-bucket-store';
import type { BucketSpec, BucketState } from '../domain/rate-limit/token-bucket-store';
import type { Logger } from '../observability/create-logger';

/**
 * One take, atomically, on a hash {tokens, ts}: the same arithmetic as
 * takeTokens() in the domain (a negative count gives tokens back, up to the
 * capacity), on Redis's clock (so that instances with skewed
 * clocks agree). A full bucket is deleted and a partial one expires when it
 * would be full again: idle tenants cost no memory. Returns
 * {allowed, whole tokens left, retry after ms, full again at ms}.
 */
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 1000
local count = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = capacity
if stored[1] and stored[2] then
  local elapsed = math.max(0, now - tonumber(stored[2]))
  tokens = math.min(capacity, tonumber(stored[1]) + elapsed * per_ms)
end
local allowed = 0
local retry_after = 0
if count <= tokens then
  tokens = math.min(capacity, tokens - count)
  allowed = 1
else
  retry_after = math.ceil((count - tokens) / per_ms)
end
local full_in = math.ceil((capacity - tokens) / per_ms)
if tokens >= capacity then
  redis.call('DEL', KEYS[1])
elseif count > 0 or stored[1] then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], full_in + 1000)
end
return {allowed, math.floor(tokens), retry_after, now + full_in}
`;

interface TakeCommand {
  vaultTakeTokens(key: string, capacity: number, refillPerSecond: number, count: number): Promise<[number, number, number, number]>;
}

export interface RedisTokenBucketStoreOptions {
  /** ioredis's per-command timeout (the failover store also bounds the wait). */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * Token buckets in Redis, shared by every instance: one EVALSHA of one Lua
 * script per take. Commands fail at once while disconnected (no offline
 * queue), so that the failover store can serve them from memory; ioredis
 * reconnects on its own, with backoff.
 */
export class RedisTokenBucketStore implements SharedTokenBucketStore {
  private readonly redis: Redis & TakeCommand;
  private lastError: string | undefined;

  constructor(url: string, options: RedisTokenBucketStoreOptions) {
    this.redis = new Redis(url, {
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(1000, options.commandTimeoutMs),
      // disconnect() waits this long for a socket that is already gone (ioredis
      // arms the timer even then), which would hold up shutdown by 2 s.
      disconnectTimeout: options.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: true,
      connectionName: 'telemetry-vault-rate-limit',
      retryStrategy: (attempt) => Math.min(5000, 100 * 2 ** Math.min(attempt, 6)),
    }) as Redis & TakeCommand;
    this.redis.defineCommand('vaultTakeTokens', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    // Without a listener ioredis reports every failed reconnect on stderr; the
    // failover store logs the outage once instead.
    this.redis.on('error', (error: Error) => {
      if (error.message !== this.lastError) options.logger.debug({ err: error }, 'rate-limit Redis connection error');
      this.lastError = error.message;
    });
    this.redis.on('ready', () => {
      this.lastError = undefined;
    });
  }

  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Resolves once connected, or after `timeoutMs` (whichever comes first); never rejects. */
  async waitUntilConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return true;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.redis.removeListener('ready', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.redis.once('ready', done);
    });
    return this.connected;
  }

  async take(key: string, spec: BucketSpec, count: number): Promise<BucketState> {
    const [allowed, remaining, retryAfterMs, resetAtMs] = await this.redis.vaultTakeTokens(key, spec.capacity, spec.refillPerSecond, count);
    return { allowed: allowed === 1, remaining, retryAfterMs, resetAtMs };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
