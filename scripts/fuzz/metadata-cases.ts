import { eventBytes, ingestMessage, validEvent } from './event-bytes';
import { FUZZ_RPCS, isIngestRpc, type CallOutcome, type CaseContext, type FuzzCase, type FuzzRpc, type MetadataEntries } from './fuzz-case';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Header values this long still fit HTTP/2's header list (Node's default limit is 64 KiB) and reach the server's code. */
const LARGE_HEADER = 30_000;

interface MetadataCase {
  readonly label: string;
  readonly metadata: (key: string) => MetadataEntries;
  readonly expect: readonly string[];
  /** grpc-js refuses to send it (non-ASCII values, say): send over plain HTTP/2. */
  readonly raw?: boolean;
  readonly check?: (call: CallOutcome) => string | undefined;
}

const requestIdNotEchoed =
  (sent: string) =>
  (call: CallOutcome): string | undefined => {
    const answered = call.metadata['x-request-id'];
    if (answered === sent) return 'the server echoed an invalid x-request-id';
    if (answered !== undefined && !UUID.test(answered)) return `x-request-id in the response is ${JSON.stringify(answered.slice(0, 80))}, not a fresh UUID`;
    return undefined;
  };

/**
 * Wrong metadata: keys in binary (-bin) headers, non-ASCII and control
 * characters, duplicated x-api-key, large values, garbage authorization
 * schemes, bad x-request-id and traceparent. Authentication failures must be
 * UNAUTHENTICATED; metadata the server only reads for logs must never fail a
 * call.
 */
function metadataCases(): MetadataCase[] {
  const large = 'x'.repeat(LARGE_HEADER);
  const authorized = (...extra: MetadataEntries): ((key: string) => MetadataEntries) => (key) => [['x-api-key', key], ...extra];
  const unauthenticated = ['UNAUTHENTICATED'];
  return [
    { label: 'no key', metadata: () => [], expect: unauthenticated },
    { label: 'the key in x-api-key-bin (binary)', metadata: (key) => [['x-api-key-bin', Buffer.from(key)]], expect: unauthenticated },
    { label: 'the key in authorization-bin (binary)', metadata: (key) => [['authorization-bin', Buffer.from(`Bearer ${key}`)]], expect: unauthenticated },
    { label: 'x-api-key with a non-ASCII character', metadata: (key) => [['x-api-key', `${key.slice(0, 5)}é${key.slice(6)}`]], expect: unauthenticated, raw: true },
    { label: 'x-api-key with a control character', metadata: (key) => [['x-api-key', `${key}\x01`]], expect: unauthenticated, raw: true },
    { label: 'x-api-key with surrounding spaces', metadata: (key) => [['x-api-key', `  ${key}  `]], expect: ['OK', 'UNAUTHENTICATED'], raw: true },
    { label: 'x-api-key twice (valid, then garbage)', metadata: (key) => [['x-api-key', key], ['x-api-key', 'garbage']], expect: ['OK', 'UNAUTHENTICATED'] },
    { label: 'x-api-key twice (garbage, then valid)', metadata: (key) => [['x-api-key', 'garbage'], ['x-api-key', key]], expect: ['OK', 'UNAUTHENTICATED'] },
    { label: 'x-api-key twice (both valid)', metadata: (key) => [['x-api-key', key], ['x-api-key', key]], expect: ['OK', 'UNAUTHENTICATED'] },
    { label: `x-api-key of ${LARGE_HEADER} characters`, metadata: () => [['x-api-key', `tv_${large}`]], expect: unauthenticated },
    { label: 'x-api-key empty, authorization Bearer with the key', metadata: (key) => [['x-api-key', ''], ['authorization', `Bearer ${key}`]], expect: ['OK'] },
    { label: 'authorization: Basic', metadata: () => [['authorization', 'Basic dXNlcjpwYXNz']], expect: unauthenticated },
    { label: 'authorization: Bearer with nothing after it', metadata: () => [['authorization', 'Bearer']], expect: unauthenticated },
    { label: 'authorization: Bearer with two tokens', metadata: (key) => [['authorization', `Bearer ${key} ${key}`]], expect: unauthenticated },
    { label: 'authorization: Token scheme with the key', metadata: (key) => [['authorization', `Token ${key}`]], expect: unauthenticated },
    { label: 'authorization: the key without a scheme', metadata: (key) => [['authorization', key]], expect: unauthenticated },
    { label: 'authorization: lower-case bearer with the key', metadata: (key) => [['authorization', `bearer ${key}`]], expect: ['OK'] },
    { label: `authorization: Bearer with ${LARGE_HEADER} characters`, metadata: () => [['authorization', `Bearer ${large}`]], expect: unauthenticated },
    { label: 'authorization: Bearer with a non-ASCII token', metadata: () => [['authorization', 'Bearer tv_ééé']], expect: unauthenticated, raw: true },
    { label: 'a valid key and a garbage authorization', metadata: authorized(['authorization', 'Garbage !!!']), expect: ['OK'] },
    { label: `x-request-id of ${LARGE_HEADER} characters`, metadata: authorized(['x-request-id', large]), expect: ['OK'], check: requestIdNotEchoed(large) },
    { label: 'x-request-id with spaces', metadata: authorized(['x-request-id', 'a b c']), expect: ['OK'], check: requestIdNotEchoed('a b c') },
    { label: 'x-request-id with non-ASCII', metadata: authorized(['x-request-id', 'réq']), expect: ['OK'], raw: true, check: requestIdNotEchoed('réq') },
    { label: 'x-request-id-bin', metadata: authorized(['x-request-id-bin', Buffer.from([0, 1, 2, 255])]), expect: ['OK'] },
    { label: 'x-request-id twice', metadata: authorized(['x-request-id', 'one'], ['x-request-id', 'two']), expect: ['OK'] },
    { label: 'traceparent garbage', metadata: authorized(['traceparent', 'garbage']), expect: ['OK'] },
    { label: 'traceparent with non-hex ids', metadata: authorized(['traceparent', `00-${'z'.repeat(32)}-${'z'.repeat(16)}-01`]), expect: ['OK'] },
    { label: 'traceparent with an all-zero trace id', metadata: authorized(['traceparent', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`]), expect: ['OK'] },
    { label: 'traceparent with version ff', metadata: authorized(['traceparent', `ff-${'1'.repeat(32)}-${'1'.repeat(16)}-01`]), expect: ['OK'] },
    { label: `traceparent of ${LARGE_HEADER} characters`, metadata: authorized(['traceparent', large]), expect: ['OK'] },
    { label: 'traceparent-bin', metadata: authorized(['traceparent-bin', Buffer.from([0xff, 0])]), expect: ['OK'] },
    { label: 'tracestate garbage', metadata: authorized(['traceparent', `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`], ['tracestate', '==,,==']), expect: ['OK'] },
    { label: 'many unknown headers', metadata: authorized(...Array.from({ length: 60 }, (_, i) => [`x-fuzz-${i}`, 'v'] as const)), expect: ['OK'] },
  ];
}

/**
 * Past Node's HTTP/2 limits the call ends before any of the server's code
 * runs: a header block over 64 KiB closes the connection with
 * COMPRESSION_ERROR (grpc-js clients report INTERNAL "Received RST_STREAM with
 * code 9"; grpc-js offers no setting for it), more than Node's 128 headers
 * resets the stream with ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED in grpc-js).
 * The server goes on serving either way.
 */
function http2LimitCases(): MetadataCase[] {
  return [
    { label: 'a 100 000-character x-api-key (over the HTTP/2 header list limit)', metadata: () => [['x-api-key', 'x'.repeat(100_000)]], expect: ['RST_STREAM:NGHTTP2_COMPRESSION_ERROR'], raw: true },
    { label: '2000 headers (over the HTTP/2 header pair limit)', metadata: (key) => [['x-api-key', key], ...Array.from({ length: 2000 }, (_, i) => [`x-fuzz-${i}`, 'v'] as const)], expect: ['RST_STREAM:NGHTTP2_ENHANCE_YOUR_CALM'], raw: true },
  ];
}

/**
 * Every metadata case on every RPC, with a valid request (an ingest call
 * carries one valid event, stored when the call is OK, not stored otherwise).
 */
export function allMetadataCases(ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const [index, entry] of [...metadataCases(), ...http2LimitCases()].entries()) {
    for (const rpc of FUZZ_RPCS) {
      const eventId = `${ctx.idPrefix}-meta-${index}-${rpc}`;
      const ingest = isIngestRpc(rpc);
      const message = ingest ? ingestMessage([eventBytes(validEvent(eventId, ctx.nowSeconds))]) : new Uint8Array(0);
      cases.push({
        name: `${rpc}: metadata: ${entry.label}`,
        kind: 'targeted',
        rpc: rpc as FuzzRpc,
        messages: [message],
        metadata: entry.metadata,
        raw: entry.raw,
        expect: entry.expect,
        check: entry.check,
        ingest: ingest && !entry.expect.includes('OK') ? { notStored: [eventId] } : undefined,
      });
    }
  }
  return cases;
}
