import forge from 'node-forge';

/** PEM text of a certificate and its private key. */
export interface CertificatePair {
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly ca: CertificatePair;
  readonly server: CertificatePair;
  readonly client: CertificatePair;
  /** A client certificate from another CA, which the server must refuse. */
  readonly rogueClient: CertificatePair;
}

let serial = 1;

function issue(subjectCn: string, issuer: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } | undefined, extensions: object[]): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = (serial++).toString(16).padStart(2, '0');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: subjectCn }]);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: subjectCn }]);
  cert.setExtensions(extensions);
  cert.sign(issuer ? issuer.key : keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

function pem(pair: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }): CertificatePair {
  return { cert: forge.pki.certificateToPem(pair.cert), key: forge.pki.privateKeyToPem(pair.key) };
}

/** Generates a CA, a server certificate for localhost/127.0.0.1, and client certificates (pure JS, no openssl). */
export function generateTestPki(): TestPki {
  const caExtensions = [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }];
  const ca = issue('telemetry-vault test CA', undefined, caExtensions);
  const rogueCa = issue('rogue CA', undefined, caExtensions);
  const server = issue('localhost', ca, [
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
  ]);
  const clientExtensions = [{ name: 'basicConstraints', cA: false }, { name: 'extKeyUsage', clientAuth: true }];
  return {
    ca: pem(ca),
    server: pem(server),
    client: pem(issue('sdk-client', ca, clientExtensions)),
    rogueClient: pem(issue('rogue-client', rogueCa, clientExtensions)),
  };
}
