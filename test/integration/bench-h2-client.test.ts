import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { encodeMessage } from '../../scripts/load/ingest-driver';
import { createH2IngestClient } from '../../scripts/load/h2-unary-client';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';
import { createTenantWithKey, makeEvent, storedEvents } from '../support/ingest-calls';

/** The benchmark's lean node:http2 client (compare-servers.ts --client http2) against a real vault. */
describe('the bench\'s node:http2 Ingest client (scripts/load/h2-unary-client.ts)', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  const call = (client: ReturnType<typeof createH2IngestClient>, bytes: Buffer, key: string): Promise<{ error: ServiceError | null; response: IngestResponse }> =>
    new Promise((resolve) => {
      const metadata = new Metadata();
      metadata.set('x-api-key', key);
      client.ingest(bytes, metadata, (error, response) => resolve({ error, response }));
    });

  test('when it sends an Ingest call, then the events are stored and the response counts them; a wrong key comes back as the status with its metadata', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'h2-client');
    const client = createH2IngestClient(server.address);
    try {
      const message = encodeMessage([makeEvent(), makeEvent(), makeEvent()]);
      const first = await call(client, message.bytes, key);
      expect(first.error).toBeNull();
      expect(first.response).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0 });
      const again = await call(client, message.bytes, key);
      expect(again.response).toMatchObject({ accepted: 0, duplicates: 3 });
      expect(await storedEvents(db.pool, tenantId)).toHaveLength(3);

      const refused = await call(client, message.bytes, 'tv_not-a-key');
      expect(refused.error?.code).toBe(status.UNAUTHENTICATED);
      expect(refused.error?.metadata.get('x-request-id')).toHaveLength(1);
    } finally {
      client.close();
    }
  });
});
