import { Redis } from 'ioredis';

/** REDIS_URL when set, else a Redis on the default local port. */
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Undefined when a Redis answers PING at `url`, else why not (for the skip message). */
export async function redisUnavailableReason(url: string = TEST_REDIS_URL): Promise<string | undefined> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return `no Redis answers at ${url} (${error instanceof Error ? error.message : String(error)}); set REDIS_URL to run the Redis tests`;
  } finally {
    redis.disconnect();
  }
}
