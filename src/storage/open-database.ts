import type { Config } from '../config/load-config';
import { redactUrl } from '../config/env-reader';
import type { Logger } from '../observability/create-logger';
import { EmbeddedCluster } from './embedded-cluster';

/** Where the data lives: DATABASE_URL, or the embedded cluster under VAULT_DATA_DIR. */
export interface Database {
  /** The primary: writes, migrations, administration. */
  readonly url: string;
  /** Where QueryService reads: DATABASE_READ_URL, else the primary. */
  readonly readUrl: string;
  /** The primary without a pooler, for session work (migrations): DATABASE_DIRECT_URL, else `url`. */
  readonly directUrl: string;
  /** The embedded cluster, when DATABASE_URL is unset. */
  readonly embedded: EmbeddedCluster | undefined;
  /** Stops the embedded cluster if this process owns it; a no-op otherwise. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /**
   * `owner` (the server) stops the embedded cluster on close, also one it
   * adopted from a previous run; `guest` (the CLI) stops it only if it had to
   * start it itself, and leaves a running server's cluster alone.
   */
  readonly role: 'owner' | 'guest';
}

/** Opens the configured database, starting the embedded cluster when DATABASE_URL is unset. */
export async function openDatabase(config: Config, logger: Logger, options: OpenDatabaseOptions): Promise<Database> {
  const { url, readUrl, directUrl } = config.database;
  if (url !== undefined) {
    logger.debug({ database: redactUrl(url), readReplica: readUrl && redactUrl(readUrl) }, 'using the configured database');
    return { url, readUrl: readUrl ?? url, directUrl: directUrl ?? url, embedded: undefined, close: async () => undefined };
  }
  const embedded = await EmbeddedCluster.open({
    dataDir: config.database.dataDir,
    port: config.database.embeddedPort,
    logger,
  });
  const stopOnClose = options.role === 'owner' || !embedded.adopted;
  return {
    url: embedded.url,
    readUrl: embedded.url,
    directUrl: embedded.url,
    embedded,
    close: async () => {
      if (stopOnClose) await embedded.stop();
    },
  };
}
