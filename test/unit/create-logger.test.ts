import type { DestinationStream } from 'pino';
import { createLogger, REDACTED } from '../../src/observability/create-logger';
import { VaultError } from '../../src/domain/vault-error';

const SECRET = 'tv_0123456789abcdef_secret';

/** A logger at info whose lines are parsed into `lines`. */
function capture(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[]; raw: string[] } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination: DestinationStream = {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  return { logger: createLogger({ level: 'info', pretty: false, destination }), lines, raw };
}

describe('log redaction', () => {
  it('replaces secret fields at the top level and leaves the logged object as it was', () => {
    const { logger, lines, raw } = capture();
    const logged = { key: SECRET, apiKey: SECRET, authorization: `Bearer ${SECRET}`, password: SECRET, tenant: 'acme', events: 3 };
    logger.info(logged, 'hello');
    expect(lines[0]).toMatchObject({ key: REDACTED, apiKey: REDACTED, authorization: REDACTED, password: REDACTED, tenant: 'acme', events: 3, msg: 'hello' });
    expect(raw[0]).not.toContain(SECRET);
    expect(logged.apiKey).toBe(SECRET);
  });

  it('replaces secret fields one level down, and the API key header of logged metadata', () => {
    const { logger, lines, raw } = capture();
    const request = { apiKey: SECRET, name: 'ingest' };
    logger.info({ request, metadata: { 'x-api-key': SECRET, authorization: `Bearer ${SECRET}`, 'user-agent': 'grpc-node-js/1.12' } }, 'call');
    expect(lines[0]).toMatchObject({
      request: { apiKey: REDACTED, name: 'ingest' },
      metadata: { 'x-api-key': REDACTED, authorization: REDACTED, 'user-agent': 'grpc-node-js/1.12' },
    });
    expect(raw[0]).not.toContain(SECRET);
    expect(request.apiKey).toBe(SECRET);
  });

  it("redacts secret fields at the top level of a child logger's bindings", () => {
    const { logger, lines, raw } = capture();
    logger.child({ requestId: 'r-1', key: SECRET }).child({ authorization: SECRET }).info({ code: 'OK' }, 'call finished');
    expect(lines[0]).toMatchObject({ requestId: 'r-1', key: REDACTED, authorization: REDACTED, code: 'OK' });
    expect(raw[0]).not.toContain(SECRET);
  });

  it('redacts a secret field of a logged error and keeps its type, message and stack', () => {
    const { logger, lines, raw } = capture();
    const error = Object.assign(new VaultError('UNAUTHENTICATED', 'the API key is not valid'), { key: SECRET });
    logger.error({ err: error }, 'call failed');
    const err = lines[0]!.err as Record<string, unknown>;
    expect(err).toMatchObject({ type: 'VaultError', message: 'the API key is not valid', key: REDACTED });
    expect(String(err.stack)).toContain('the API key is not valid');
    expect(raw[0]).not.toContain(SECRET);
    expect(error.key).toBe(SECRET);
  });

  it('writes a line without secrets as it is', () => {
    const { logger, lines } = capture();
    logger.child({ requestId: 'r-2', method: '/telemetry.v1.IngestService/Ingest' }).info({ code: 'OK', durationMs: 1.5, nested: { a: [1, 2], b: null } }, 'call finished');
    expect(lines[0]).toMatchObject({ requestId: 'r-2', method: '/telemetry.v1.IngestService/Ingest', code: 'OK', durationMs: 1.5, nested: { a: [1, 2], b: null }, level: 'info', service: 'telemetry-vault' });
  });
});
