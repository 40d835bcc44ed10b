import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/test-database';
import { generateTestPki, type TestPki } from '../../../test/support/test-certificates';
import { startTestServer, type TestServer } from '../../../test/support/test-server';
import { createTenantWithKey } from '../../../test/support/ingest-calls';
import { VaultClient } from '../src';

describe('the Node.js client over mutual TLS', () => {
  let db: TestDatabase;
  let dir: string;
  let pki: TestPki;
  let server: TestServer;
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-sdk-tls-'));
    pki = generateTestPki();
    fs.writeFileSync(file('ca.pem'), pki.ca.cert);
    fs.writeFileSync(file('server.pem'), pki.server.cert);
    fs.writeFileSync(file('server.key'), pki.server.key);
    server = await startTestServer(db.url, { TLS_CERT_FILE: file('server.pem'), TLS_KEY_FILE: file('server.key'), TLS_CLIENT_CA_FILE: file('ca.pem') });
  });

  afterAll(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  test('when the client gives the CA and a client certificate, then it ingests and queries; without the certificate a query fails UNAVAILABLE', async () => {
    const { key } = await createTenantWithKey(db.pool, 'sdk-tls');
    const client = new VaultClient({ address: server.address, apiKey: key, tls: { ca: Buffer.from(pki.ca.cert), cert: Buffer.from(pki.client.cert), key: Buffer.from(pki.client.key) } });
    const ingester = client.ingester();
    for (let i = 0; i < 10; i++) await ingester.add({ eventType: 'log', serviceName: 'tls', payload: { i } });
    await ingester.close();
    expect(ingester.counters).toMatchObject({ accepted: 10, failed: 0 });
    expect(await client.aggregate({ serviceNames: ['tls'] })).toEqual([expect.objectContaining({ count: 10 })]);
    client.close();

    const noCertificate = new VaultClient({ address: server.address, apiKey: key, tls: { ca: Buffer.from(pki.ca.cert) }, deadlineMs: 5000 });
    await expect(noCertificate.aggregate()).rejects.toMatchObject({ code: status.UNAVAILABLE });
    noCertificate.close();
  });
});
