import fs from 'node:fs';
import type { ConnectionOptions } from '@telemetry-vault/client';
import { UsageError } from '../output';

/** The flags every remote command takes (parseArgs options). */
export const CONNECTION_OPTIONS = {
  address: { type: 'string' },
  'api-key': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export const CONNECTION_USAGE = `Connection (flags win over the environment):
  --address HOST:PORT    the vault's gRPC address (VAULT_ADDRESS; default localhost:50051)
  --api-key KEY          the tenant's API key (VAULT_API_KEY; prefer the variable: flags show in ps)
  --tls                  TLS with the system's roots (VAULT_TLS=true)
  --tls-ca FILE          TLS, trusting this PEM CA bundle (VAULT_TLS_CA)
  --tls-cert FILE        mutual TLS: this PEM client certificate (VAULT_TLS_CERT), with
  --tls-key FILE         its PEM private key (VAULT_TLS_KEY)
`;

export interface ConnectionFlags {
  readonly address?: string;
  readonly 'api-key'?: string;
  readonly tls?: boolean;
  readonly 'tls-ca'?: string;
  readonly 'tls-cert'?: string;
  readonly 'tls-key'?: string;
}

/** The SDK's connection options from the flags and VAULT_* variables; a UsageError names what is wrong. */
export function connectionOptions(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>): ConnectionOptions {
  const address = flags.address ?? nonEmpty(env.VAULT_ADDRESS) ?? 'localhost:50051';
  if (/\s/.test(address)) throw new UsageError(`--address must be HOST:PORT, such as localhost:50051 (got "${address}")`);
  const apiKey = flags['api-key'] ?? nonEmpty(env.VAULT_API_KEY);
  if (!apiKey) throw new UsageError('no API key: pass --api-key or set VAULT_API_KEY (telemetry-vault key create TENANT makes one)');

  const ca = flags['tls-ca'] ?? nonEmpty(env.VAULT_TLS_CA);
  const cert = flags['tls-cert'] ?? nonEmpty(env.VAULT_TLS_CERT);
  const key = flags['tls-key'] ?? nonEmpty(env.VAULT_TLS_KEY);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together (VAULT_TLS_CERT, VAULT_TLS_KEY): a client certificate needs its key');
  const tls = flags.tls === true || envBoolean(env.VAULT_TLS) || ca !== undefined || cert !== undefined;
  if (!tls) return { address, apiKey };
  if (ca === undefined && cert === undefined) return { address, apiKey, tls: true };
  return {
    address,
    apiKey,
    tls: {
      ...(ca === undefined ? {} : { ca: readPem(ca, '--tls-ca') }),
      ...(cert === undefined ? {} : { cert: readPem(cert, '--tls-cert') }),
      ...(key === undefined ? {} : { key: readPem(key, '--tls-key') }),
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function envBoolean(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new UsageError(`VAULT_TLS must be true or false (got "${value}")`);
}

function readPem(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
