import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { useRestartableVault } from '../support/restartable-vault';
import { eventually } from '../support/test-server';
import { createTenantWithKey, errorDetails, storedEvents } from '../support/ingest-calls';

/** Emits one log through a real LoggerProvider over `exporter`; resolves with what the exporter reported. */
async function exportOneLog(exporter: LogRecordExporter, body: string): Promise<ExportResult> {
  let result: ExportResult | undefined;
  const recording: LogRecordExporter = {
    export: (records, done) =>
      exporter.export(records, (outcome) => {
        result = outcome;
        done(outcome);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'otel-outage' }), processors: [new BatchLogRecordProcessor({ exporter: recording, exportTimeoutMillis: 120_000 })] });
  provider.getLogger('lib').emit({ body });
  await provider.forceFlush();
  await provider.shutdown();
  return result!;
}

describe('OTLP when the database is down', () => {
  // The auth cache outlives the outage's first calls, so that they reach the writer.
  const vault = useRestartableVault('tv-otlp-down-', { AUTH_CACHE_TTL: '5s', DB_POOL_CONNECTION_TIMEOUT: '1s' });

  test('when the database stops, then OTLP/gRPC answers UNAVAILABLE with RetryInfo, OTLP/HTTP 503 with Retry-After which the stock exporter retries, and after the restart exports are stored', async () => {
    const { cluster, server, pool } = vault();
    const { key, tenantId } = await createTenantWithKey(pool, 'outage');
    const metadata = new Metadata();
    metadata.set('x-api-key', key);
    const otlpHttp = `http://127.0.0.1:${server.vault.otlpHttpPort}/v1/logs`;
    expect((await exportOneLog(new ProtoLogExporter({ url: otlpHttp, headers: { 'x-api-key': key } }), 'before')).code).toBe(ExportResultCode.SUCCESS);

    await cluster.stop('immediate');
    const overGrpc = await exportOneLog(new GrpcLogExporter({ url: `http://${server.address}`, metadata }), 'during grpc');
    expect(overGrpc.code).toBe(ExportResultCode.FAILED);
    expect((overGrpc.error as ServiceError).code).toBe(status.UNAVAILABLE);
    expect(errorDetails(overGrpc.error as ServiceError).retryDelayMs).toBeGreaterThan(0);

    const refusedBefore = server.logs.records().filter((line) => line['msg'] === 'OTLP/HTTP request refused' && line['httpStatus'] === 503).length;
    const overHttp = await exportOneLog(new ProtoLogExporter({ url: otlpHttp, headers: { 'x-api-key': key }, timeoutMillis: 120_000 }), 'during http');
    expect(overHttp.code).toBe(ExportResultCode.FAILED);
    const refused = server.logs.records().filter((line) => line['msg'] === 'OTLP/HTTP request refused' && line['httpStatus'] === 503).length - refusedBefore;
    // The stock exporter retried the 503s (1 attempt + its retries).
    expect(refused).toBeGreaterThan(1);
    const raw = await fetch(otlpHttp, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'raw' } }] }] }] }) });
    expect(raw.status).toBe(503);
    expect(Number(raw.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    await cluster.start();
    await eventually(async () => {
      expect((await exportOneLog(new ProtoLogExporter({ url: otlpHttp, headers: { 'x-api-key': key } }), 'after')).code).toBe(ExportResultCode.SUCCESS);
    }, 30_000, 250);
    const bodies = (await storedEvents(pool, tenantId)).map((row) => (row.payload as { body: string }).body).sort();
    expect(bodies).toEqual(['after', 'before']);
  });
});
