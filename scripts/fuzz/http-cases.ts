/**
 * The HTTP family of the fuzz suite: raw bytes sent to the operations port
 * (/metrics, /healthz, /readyz) over a plain TCP socket, so that nothing a
 * client library would refuse to send is left out: malformed request lines,
 * targets, methods, versions and headers, bodies, pipelining, random bytes
 * and mutations of valid requests. The jest test (test/integration/fuzz.test.ts)
 * and the hand-run mode (scripts/fuzz/run-fuzz.ts) run the same cases, with
 * scripts/fuzz/run-http-fuzz.ts.
 */
import type { Prng } from './prng';

/** How an HTTP exchange ended: the status of each response, or `closed` when the server closed without answering. */
export type HttpOutcome = number | 'closed';

export interface HttpFuzzCase {
  /** Says what was sent (with the seed, a reproduction recipe). */
  readonly name: string;
  readonly kind: 'targeted' | 'random' | 'mutation';
  /** The bytes written before the client half-closes the connection. */
  readonly bytes: Buffer;
  /** The outcomes the server may give; each response's status must be one of them. */
  readonly expect: readonly HttpOutcome[];
  /**
   * Whether the client half-closes after writing (default true), so that
   * incomplete requests end at once. Node answers a half-closed connection's
   * synchronous responses only; a /metrics case (answered asynchronously) that
   * must see its 200 sends `Connection: close` and sets this to false.
   */
  readonly halfClose?: boolean;
}

/** Every status the port may answer client input with; 500 (or a dropped process) is a bug. */
export const HTTP_ALLOWED: readonly HttpOutcome[] = [100, 200, 400, 404, 405, 408, 413, 414, 431, 501, 503, 505, 'closed'];

/** A request as a well-behaved scraper sends it. */
const request = (method: string, target: string, headers: readonly string[] = ['Host: localhost'], version = 'HTTP/1.1'): string =>
  `${method} ${target} ${version}\r\n${headers.map((header) => `${header}\r\n`).join('')}\r\n`;

const VALID: readonly string[] = [
  request('GET', '/healthz'),
  request('HEAD', '/readyz'),
  request('GET', '/metrics', ['Host: localhost', 'Accept: text/plain']),
  request('GET', '/healthz?probe=1', ['Host: localhost', 'Connection: close']),
];

const targeted = (name: string, bytes: string | Buffer, expect: readonly HttpOutcome[], halfClose = true): HttpFuzzCase => ({
  name: `http: ${name}`,
  kind: 'targeted',
  bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes,
  expect,
  halfClose,
});

/** The named cases: each malformed part of a request, on its own. */
export function httpTargetedCases(): HttpFuzzCase[] {
  const bad = [400, 'closed'] as const;
  return [
    // Targets (the issue's crash: GET //%00 threw in new URL).
    targeted('target //%00 (threw in new URL before)', request('GET', '//%00'), [404]),
    targeted('target //', request('GET', '//'), [404]),
    targeted('target /%zz (bad percent-encoding)', request('GET', '/%zz'), [404]),
    targeted('target /healthz%00', request('GET', '/healthz%00'), [404]),
    targeted('target //evil.example/healthz', request('GET', '//evil.example/healthz'), [404]),
    targeted('target http://[::1 (broken absolute-form)', request('GET', 'http://[::1'), [400, 404]),
    targeted('target http://h:99999999/healthz (absolute-form, bad port)', request('GET', 'http://h:99999999/healthz'), [200]),
    targeted('target http://localhost/readyz (absolute-form)', request('GET', 'http://localhost/readyz'), [200, 503]),
    targeted('target ftp://x/healthz', request('GET', 'ftp://x/healthz'), [400]),
    targeted('target * (asterisk-form)', request('OPTIONS', '*'), [400]),
    targeted('target relative (healthz)', request('GET', 'healthz'), [400]),
    targeted('target with raw NUL', request('GET', '/a\u0000b'), bad),
    targeted('target with raw 0xff bytes', Buffer.concat([Buffer.from('GET /'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), [400, 404, 'closed']),
    targeted('target with a tab', request('GET', '/a\tb'), bad),
    targeted('target 7 KiB long', request('GET', `/${'a'.repeat(7 * 1024)}`), [404, 414, 431]),
    targeted('target 64 KiB long (over the head limit)', request('GET', `/${'a'.repeat(64 * 1024)}`), [431, 400, 'closed']),
    targeted('target /healthz#fragment', request('GET', '/healthz#x'), [200]),
    targeted('target /metrics?%%%', request('GET', '/metrics?%%%', ['Host: x', 'Connection: close']), [200], false),
    targeted('empty target', 'GET  HTTP/1.1\r\nHost: x\r\n\r\n', bad),
    // Methods.
    targeted('method PUT on /healthz', request('PUT', '/healthz'), [405]),
    targeted('method DELETE on /metrics', request('DELETE', '/metrics'), [405]),
    targeted('method OPTIONS on /readyz', request('OPTIONS', '/readyz'), [405]),
    targeted('method FOO (unknown)', request('FOO', '/healthz'), [400, 405, 501, 'closed']),
    targeted('method lowercase get', request('get', '/healthz'), [400, 405, 501, 'closed']),
    targeted('method 1000 letters', request('G'.repeat(1000), '/healthz'), [400, 405, 501, 'closed']),
    targeted('method missing', ' /healthz HTTP/1.1\r\nHost: x\r\n\r\n', [400, 501, 'closed']),
    targeted('method CONNECT host:443', request('CONNECT', 'localhost:443'), bad),
    targeted('method PRI (HTTP/2 preface on an HTTP/1 port)', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [400, 505, 'closed']),
    // Versions.
    targeted('version HTTP/2.0 (parsed as 1.x by Node)', request('GET', '/healthz', ['Host: x'], 'HTTP/2.0'), [200, 400, 505, 'closed']),
    targeted('version HTTP/9.9', request('GET', '/healthz', ['Host: x'], 'HTTP/9.9'), [400, 505, 'closed']),
    targeted('version HTTP/1.0 without Host', 'GET /healthz HTTP/1.0\r\n\r\n', [200]),
    targeted('version missing (HTTP/0.9 style)', 'GET /healthz\r\n\r\n', [200, 400, 'closed']),
    targeted('version garbage', request('GET', '/healthz', ['Host: x'], 'HTXP/1.1'), bad),
    targeted('request line only LF', 'GET /healthz HTTP/1.1\nHost: x\n\n', [200, 400, 'closed']),
    targeted('request line with trailing spaces', 'GET /healthz HTTP/1.1   \r\nHost: x\r\n\r\n', bad),
    // Headers.
    targeted('header without a colon', request('GET', '/healthz', ['Host: x', 'NoColonHere']), bad),
    targeted('header with a space before the colon', request('GET', '/healthz', ['Host: x', 'Bad : value']), bad),
    targeted('header name with a NUL', request('GET', '/healthz', ['Host: x', 'A\u0000B: v']), bad),
    targeted('header value with a NUL', request('GET', '/healthz', ['Host: x', 'A: v\u0000v']), bad),
    targeted('header value with raw 0xff bytes', Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX: '), Buffer.from([0xff, 0xc0]), Buffer.from('\r\n\r\n')]), [200, 400, 'closed']),
    targeted('obsolete line folding', request('GET', '/healthz', ['Host: x', 'X: a', ' folded']), [200, 400, 'closed']),
    targeted('HTTP/1.1 without Host', 'GET /healthz HTTP/1.1\r\n\r\n', [400, 200, 'closed']),
    targeted('two Host headers', request('GET', '/healthz', ['Host: a', 'Host: b']), [200, 400, 'closed']),
    targeted('one 9 KiB header (over the head limit)', request('GET', '/healthz', ['Host: x', `X-Big: ${'v'.repeat(9 * 1024)}`]), [431, 400, 'closed']),
    targeted('1000 headers of 20 bytes (over the head limit)', request('GET', '/healthz', ['Host: x', ...Array.from({ length: 1000 }, (_, i) => `X-Header-${String(i).padStart(4, '0')}: value`)]), [431, 400, 'closed']),
    targeted('a 1 MiB head', request('GET', '/healthz', ['Host: x', `X-Big: ${'v'.repeat(2 ** 20)}`]), [431, 400, 'closed']),
    targeted('Upgrade: websocket', request('GET', '/healthz', ['Host: x', 'Connection: Upgrade', 'Upgrade: websocket']), [200, 400, 'closed']),
    targeted('Upgrade: h2c', request('GET', '/healthz', ['Host: x', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']), [200, 400, 'closed']),
    targeted('Expect: 100-continue', request('GET', '/healthz', ['Host: x', 'Expect: 100-continue']), [100, 200, 413, 417, 'closed']),
    // Bodies (no path takes one).
    targeted('POST /healthz with a 10-byte body', `${request('POST', '/healthz', ['Host: x', 'Content-Length: 10'])}0123456789`, [413]),
    targeted('GET with a chunked body', `${request('GET', '/metrics', ['Host: x', 'Transfer-Encoding: chunked'])}5\r\nhello\r\n0\r\n\r\n`, [413]),
    targeted('bad chunk sizes', `${request('POST', '/healthz', ['Host: x', 'Transfer-Encoding: chunked'])}zz\r\nhello\r\n`, [400, 413, 'closed']),
    targeted('Content-Length -1', request('GET', '/healthz', ['Host: x', 'Content-Length: -1']), bad),
    targeted('Content-Length 10^20', request('GET', '/healthz', ['Host: x', 'Content-Length: 100000000000000000000']), [400, 413, 'closed']),
    targeted('Content-Length 1 GiB announced, 5 bytes sent', `${request('POST', '/metrics', ['Host: x', `Content-Length: ${2 ** 30}`])}hello`, [413, 400, 'closed']),
    targeted('two different Content-Lengths', `${request('POST', '/healthz', ['Host: x', 'Content-Length: 1', 'Content-Length: 2'])}ab`, bad),
    targeted('Content-Length and chunked together (smuggling)', `${request('POST', '/healthz', ['Host: x', 'Content-Length: 4', 'Transfer-Encoding: chunked'])}0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n`, [400, 413, 'closed']),
    targeted('Transfer-Encoding: gzip, chunked', `${request('POST', '/healthz', ['Host: x', 'Transfer-Encoding: gzip, chunked'])}0\r\n\r\n`, [400, 413, 'closed']),
    // Streams of requests.
    targeted('100 pipelined GET /healthz', request('GET', '/healthz').repeat(100), [200]),
    targeted('pipelined valid then malformed', `${request('GET', '/healthz')}GET //%00 HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n`, [200, 404, 400, 501, 'closed']),
    targeted('head cut off before the blank line', 'GET /healthz HTTP/1.1\r\nHost: x\r\n', bad),
    targeted('request line cut off', 'GET /heal', bad),
    targeted('nothing but CRLFs', '\r\n'.repeat(1000), bad),
    targeted('a TLS ClientHello', Buffer.from('16030100a5010000a103035b', 'hex'), [400, 501, 'closed']),
    targeted('an HTTP/2 preface with frames', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from('000000040000000000', 'hex')]), [400, 505, 'closed']),
  ];
}

/** `count` random byte strings and `count` mutations of valid requests. */
export function httpRandomCases(prng: Prng, count: number): HttpFuzzCase[] {
  const cases: HttpFuzzCase[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = Buffer.from(prng.bytes(prng.length(4096)));
    cases.push({ name: `http: random #${i} (${bytes.length} bytes)`, kind: 'random', bytes, expect: HTTP_ALLOWED });
  }
  for (let i = 0; i < count; i++) {
    const base = prng.pick(VALID);
    const { bytes, how } = mutate(prng, Buffer.from(base, 'latin1'));
    cases.push({ name: `http: mutation #${i} of ${JSON.stringify(base.split('\r\n')[0])} (${how})`, kind: 'mutation', bytes, expect: HTTP_ALLOWED });
  }
  return cases;
}

/** One to four edits of a valid request: byte flips, inserted runs of bytes or separators, deletions, truncation, duplication. */
function mutate(prng: Prng, original: Buffer): { bytes: Buffer; how: string } {
  let bytes = original;
  const hows: string[] = [];
  const edits = prng.between(1, 4);
  const specials = [' ', '\r\n', '\n', ':', '%', '%00', '\u0000', '/', '?', '#', '\t', '\r\n\r\n', 'HTTP/1.1', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n'];
  for (let i = 0; i < edits; i++) {
    const at = prng.int(bytes.length + 1);
    switch (prng.int(6)) {
      case 0: {
        const copy = Buffer.from(bytes);
        if (copy.length > 0) copy[Math.min(at, copy.length - 1)] = prng.uint32() & 0xff;
        bytes = copy;
        hows.push(`flip at ${at}`);
        break;
      }
      case 1: {
        const run = Buffer.from(prng.bytes(prng.length(64)));
        bytes = Buffer.concat([bytes.subarray(0, at), run, bytes.subarray(at)]);
        hows.push(`insert ${run.length} random bytes at ${at}`);
        break;
      }
      case 2: {
        const special = prng.pick(specials);
        const times = prng.chance(0.1) ? prng.between(2, 2000) : 1;
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(special.repeat(times), 'latin1'), bytes.subarray(at)]);
        hows.push(`insert ${JSON.stringify(special)} x${times} at ${at}`);
        break;
      }
      case 3: {
        const length = prng.length(16);
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + length)]);
        hows.push(`delete ${length} at ${at}`);
        break;
      }
      case 4:
        bytes = bytes.subarray(0, at);
        hows.push(`truncate at ${at}`);
        break;
      default:
        bytes = Buffer.concat([bytes, bytes]);
        hows.push('duplicate');
    }
  }
  return { bytes, how: hows.join(', ') };
}
