import fs from 'node:fs';
import path from 'node:path';
import { EMBEDDED_WAL_SETTINGS } from '../../src/storage/embedded-cluster';

/**
 * docker-compose.yml's PostgreSQL starts with the WAL tuning the embedded
 * cluster starts with. The two are written in two languages; this keeps them
 * from drifting apart.
 */
describe('docker-compose.yml', () => {
  test("when the postgres service starts, then its command carries exactly the embedded cluster's EMBEDDED_WAL_SETTINGS", () => {
    const compose = fs.readFileSync(path.join(__dirname, '../../docker-compose.yml'), 'utf8');
    const service = compose.slice(compose.indexOf('\n  postgres:\n'));
    const command = /\n {4}command: (\[.*\])\n/.exec(service.slice(0, service.indexOf('\n\n')));
    expect(command).not.toBeNull();
    const expected = ['postgres', ...Object.entries(EMBEDDED_WAL_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
    expect(JSON.parse(command![1]!)).toEqual(expected);
  });
});
