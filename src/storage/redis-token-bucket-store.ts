import { Redis } from 'ioredis';
import type { SharedTokenBucketStore } from '../domain/rate-limit/failover-token-bucket-store';
import type { BucketSpec, BucketState, BucketTake } from '../domain/rate-limit/token-bucket-store';
import type { Logger } from '../observability/create-logger';

/**
 * Takes from one or more buckets, atomically, each a hash {tokens, ts}: the
 * same arithmetic as takeTokens() in the domain (a negative count gives tokens
 * back, up to the capacity), on Redis's clock (so that instances with skewed
 * clocks agree). KEYS are the buckets; ARGV holds capacity, refill per second
 * and count for each, in order. Once a take is refused, the later buckets are
 * only read (see TokenBucketStore.takeAll). A full bucket is deleted and a
 * partial one expires when it would be full again: idle tenants cost no
 * memory. Returns {allowed, whole tokens left, retry after ms, full again at
 * ms} for each bucket, flattened.
 */
const TAKE_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local refused = false
local out = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[i * 3 - 2])
  local per_ms = tonumber(ARGV[i * 3 - 1]) / 1000
  local count = tonumber(ARGV[i * 3])
  if refused then count = 0 end
  local stored = redis.call('HMGET', key, 'tokens', 'ts')
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
    refused = true
  end
  local full_in = math.ceil((capacity - tokens) / per_ms)
  if tokens >= capacity then
    redis.call('DEL', key)
  elseif count > 0 or stored[1] then
    redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
    redis.call('PEXPIRE', key, full_in + 1000)
  end
  table.insert(out, allowed)
  table.insert(out, math.floor(tokens))
  table.insert(out, retry_after)
  table.insert(out, now + full_in)
end
return out
`;

interface TakeCommand {
  vaultTakeTokens(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
}

/** ioredis reconnects after 100 ms, doubling up to 5 s: a restarted Redis is back in use within seconds, a dead one costs little. */
const RECONNECT_FIRST_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 5000;

export interface RedisTokenBucketStoreOptions {
  /** ioredis's per-command timeout (the failover store also bounds the wait). */
  readonly commandTimeoutMs: number;
  /** How long one connection attempt may take. */
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * Token buckets in Redis, shared by every instance: one EVALSHA of one Lua
 * script per take, whatever the number of buckets it touches. Commands fail at once while disconnected (no offline
 * queue), so that the failover store can serve them from memory; ioredis
 * reconnects on its own, with backoff.
 */
export class RedisTokenBucketStore implements SharedTokenBucketStore {
  private readonly redis: Redis & TakeCommand;
  private lastError: string | undefined;

  constructor(url: string, options: RedisTokenBucketStoreOptions) {
    this.redis = new Redis(url, {
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      // disconnect() waits this long for a socket that is already gone (ioredis
      // arms the timer even then), which would hold up shutdown by 2 s.
      disconnectTimeout: options.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: true,
      connectionName: 'telemetry-vault-rate-limit',
      retryStrategy: (attempt) => Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_FIRST_DELAY_MS * 2 ** Math.min(attempt, 6)),
    }) as Redis & TakeCommand;
    // The number of keys comes with each call (one bucket, or a call's and its events' buckets).
    this.redis.defineCommand('vaultTakeTokens', { lua: TAKE_SCRIPT });
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
    const [state] = await this.takeAll([{ key, spec, count }]);
    return state!;
  }

  /** One EVALSHA whatever the number of buckets. */
  async takeAll(takes: readonly BucketTake[]): Promise<BucketState[]> {
    const args = takes.flatMap(({ spec, count }) => [spec.capacity, spec.refillPerSecond, count]);
    const flat = await this.redis.vaultTakeTokens(takes.length, ...takes.map((take) => take.key), ...args);
    return takes.map((_, i) => ({ allowed: flat[i * 4] === 1, remaining: flat[i * 4 + 1]!, retryAfterMs: flat[i * 4 + 2]!, resetAtMs: flat[i * 4 + 3]! }));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
