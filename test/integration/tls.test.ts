import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChannelCredentials, credentials, Metadata, status } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthClient } from '../../src/gen/grpc/health/v1/health';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { generateTestPki, type TestPki } from '../support/test-certificates';
import { runCliCaptured } from '../support/run-cli-captured';
import { startTestServer, type TestServer } from '../support/test-server';

/** The status of a health check over the given credentials: OK (0) when the handshake and call succeed. */
function checkOver(address: string, channelCredentials: ChannelCredentials): Promise<{ code: status; serving?: ServingStatus }> {
  const client = new HealthClient(address, channelCredentials);
  return new Promise((resolve) =>
    client.check({ service: '' }, new Metadata(), { deadline: Date.now() + 5000 }, (error, response) => {
      client.close();
      resolve(error ? { code: error.code } : { code: status.OK, serving: response.status });
    }),
  );
}

describe('TLS on the gRPC port', () => {
  let db: TestDatabase;
  let dir: string;
  let pki: TestPki;
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-tls-'));
    pki = generateTestPki();
    fs.writeFileSync(file('ca.pem'), pki.ca.cert);
    fs.writeFileSync(file('server.pem'), pki.server.cert);
    fs.writeFileSync(file('server.key'), pki.server.key);
  });

  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  describe('when TLS_CERT_FILE and TLS_KEY_FILE are set', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer(db.url, { TLS_CERT_FILE: file('server.pem'), TLS_KEY_FILE: file('server.key') });
    });

    afterAll(async () => {
      await server.stop();
    });

    test('then a client trusting the CA gets through', async () => {
      await expect(checkOver(server.address, credentials.createSsl(Buffer.from(pki.ca.cert)))).resolves.toEqual({ code: status.OK, serving: ServingStatus.SERVING });
    });

    test('then a plaintext client is refused', async () => {
      expect((await checkOver(server.address, credentials.createInsecure())).code).toBe(status.UNAVAILABLE);
    });

    test('then a client that does not trust the certificate is refused', async () => {
      expect((await checkOver(server.address, credentials.createSsl(Buffer.from(pki.rogueClient.cert)))).code).toBe(status.UNAVAILABLE);
    });
  });

  describe('when TLS_CLIENT_CA_FILE is also set (mutual TLS)', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer(db.url, { TLS_CERT_FILE: file('server.pem'), TLS_KEY_FILE: file('server.key'), TLS_CLIENT_CA_FILE: file('ca.pem') });
    });

    afterAll(async () => {
      await server.stop();
    });

    test('then a client certificate signed by that CA gets through', async () => {
      const channel = credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(pki.client.key), Buffer.from(pki.client.cert));
      await expect(checkOver(server.address, channel)).resolves.toEqual({ code: status.OK, serving: ServingStatus.SERVING });
    });

    test('then a client without a certificate is refused', async () => {
      expect((await checkOver(server.address, credentials.createSsl(Buffer.from(pki.ca.cert)))).code).toBe(status.UNAVAILABLE);
    });

    test('then a client certificate from another CA is refused', async () => {
      const channel = credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(pki.rogueClient.key), Buffer.from(pki.rogueClient.cert));
      expect((await checkOver(server.address, channel)).code).toBe(status.UNAVAILABLE);
    });
  });

  test('when only TLS_CLIENT_CA_FILE is set, then serve refuses to start and names the variables', async () => {
    const result = await runCliCaptured(['serve'], { DATABASE_URL: db.url, TLS_CLIENT_CA_FILE: file('ca.pem') });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('TLS_CLIENT_CA_FILE is set but TLS_CERT_FILE and TLS_KEY_FILE are not');
  });

  test('when a TLS file cannot be read, then serve refuses to start and names the variable', async () => {
    const result = await runCliCaptured(['serve'], { DATABASE_URL: db.url, GRPC_PORT: '0', HTTP_PORT: '0', TLS_CERT_FILE: file('missing.pem'), TLS_KEY_FILE: file('server.key') });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`TLS_CERT_FILE ${file('missing.pem')} cannot be read`);
  });
});
