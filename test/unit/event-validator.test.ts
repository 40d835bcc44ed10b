import { EventValidator } from '../../src/domain/ingest/event-validator';
import { inspectJsonText, inspectJsonValue, inspectStringifiedJson } from '../../src/domain/ingest/inspect-json';
import type { IncomingEvent, ValidEvent } from '../../src/domain/ingest/ingest-event';
import { JsonObjectScanner } from '../../src/domain/ingest/scan-json-bytes';
import { random } from '../support/random-json';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const validator = new EventValidator({ maxPayloadBytes: 1024, maxPayloadDepth: 5, maxFutureSkewMs: 600_000 }, () => NOW);

const event = (overrides: Partial<IncomingEvent> = {}): IncomingEvent => ({
  eventId: 'evt-1',
  timestamp: { seconds: NOW / 1000 - 60, nanos: 987_654_321 },
  eventType: 'log',
  serviceName: 'checkout',
  payloadJson: '{"a":1}',
  ...overrides,
});

/** A validated event with its payload as text, for comparing. */
function withTextPayload(result: ValidEvent | string): Omit<ValidEvent, 'payloadJson'> & { payloadJson: string } {
  if (typeof result === 'string') throw new Error(`rejected: ${result}`);
  return { ...result, payloadJson: Buffer.from(result.payloadJson).toString('utf8') };
}

describe('EventValidator', () => {
  test('when an event is valid, then it comes back ready to write, with the timestamp in microseconds and payload_json as sent', () => {
    expect(withTextPayload(validator.validate(event({ payloadJson: '{ "a" : 1.50 }' })))).toEqual({
      eventId: 'evt-1',
      timestampUs: BigInt(Date.parse('2024-05-01T11:59:00Z')) * 1000n + 987_654n,
      eventType: 'log',
      serviceName: 'checkout',
      payloadJson: '{ "a" : 1.50 }',
      payloadCopyEscapes: false,
    });
  });

  test('when payload_json arrives as bytes (the gRPC path), then the same bytes come back, marked for COPY escaping when they hold a backslash or a tab, newline or carriage return', () => {
    const bytes = Buffer.from('{"a":"\\n é"}');
    const valid = validator.validate(event({ payloadJson: bytes }));
    expect(valid).toMatchObject({ payloadJson: bytes, payloadCopyEscapes: true });
    expect(validator.validate(event({ payloadJson: Buffer.from('{\n"a":1}'.replace('\\n', '\n')) }))).toMatchObject({ payloadCopyEscapes: true });
    expect(validator.validate(event({ payloadJson: Buffer.from('{"a": "é"}') }))).toMatchObject({ payloadCopyEscapes: false });
  });

  test('when payload_json is not well-formed UTF-8 (a lone continuation byte, an overlong form, an encoded surrogate, past U+10FFFF, a cut sequence), then each bad sequence becomes U+FFFD, as in every string field of a protobuf message', () => {
    for (const bad of [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      const bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bad), Buffer.from('"}')]);
      const text = withTextPayload(validator.validate(event({ payloadJson: bytes }))).payloadJson;
      expect(text).toBe(`{"a":"${new TextDecoder().decode(Buffer.from(bad))}"}`);
      expect(text).toMatch(/^\{"a":"\ufffd+"\}$/);
    }
  });

  test('when an event has a Struct payload or none, then the payload becomes JSON text, {} for none', () => {
    expect(withTextPayload(validator.validate(event({ payloadJson: undefined, payload: { b: [true, null, 'x\\y'] } })))).toMatchObject({ payloadJson: '{"b":[true,null,"x\\\\y"]}', payloadCopyEscapes: true });
    expect(withTextPayload(validator.validate(event({ payloadJson: undefined })))).toMatchObject({ payloadJson: '{}', payloadCopyEscapes: false });
  });

  test.each<[string, Partial<IncomingEvent>, RegExp]>([
    ['an empty event_id', { eventId: '' }, /^event_id is required \(1\.\.128 printable ASCII characters\)$/],
    ['a 129-character event_id', { eventId: 'x'.repeat(129) }, /^event_id is 129 characters long; the limit is 128$/],
    ['a tab in event_id', { eventId: 'a\tb' }, /^event_id must be printable ASCII \(U\+0020\.\.U\+007E\); character 1 is U\+0009$/],
    ['a non-ASCII event_id', { eventId: 'ça' }, /character 0 is "ç" \(U\+00E7\)/],
    ['no timestamp', { timestamp: undefined }, /^timestamp is required$/],
    ['a timestamp 11 minutes ahead', { timestamp: { seconds: NOW / 1000 + 660, nanos: 0 } }, /^timestamp is 11 min ahead of the server clock; at most 10 min ahead is accepted$/],
    ['a timestamp past year 9999', { timestamp: { seconds: 253_402_300_800, nanos: 0 } }, /between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z/],
    ['nanos of a second or more', { timestamp: { seconds: 0, nanos: 1_000_000_000 } }, /nanos must be between 0 and 999999999/],
    ['an upper-case event_type', { eventType: 'Log' }, /^event_type must be characters of \[a-z0-9_\.:-\]; character 0 is "L" \(U\+004C\)$/],
    ['a 65-character event_type', { eventType: 'a'.repeat(65) }, /limit is 64/],
    ['an empty service_name', { serviceName: '' }, /^service_name is required/],
    ['a 129-character service_name', { serviceName: '\u{1F600}'.repeat(129) }, /^service_name is 129 characters long; the limit is 128$/],
    ['NUL in service_name', { serviceName: 'a\u0000' }, /^service_name contains U\+0000 \(NUL\), which PostgreSQL cannot store in text$/],
    ['both payload and payload_json', { payload: {}, payloadJson: '{}' }, /both set; they are a oneof/],
    ['payload_json that is not JSON', { payloadJson: '{a:1}' }, /^payload_json is not valid JSON: /],
    ['payload_json that is null', { payloadJson: 'null' }, /^payload_json must be a JSON object, not null$/],
    ['payload_json that is a number', { payloadJson: '42' }, /not a number$/],
    ['payload_json over the size limit', { payloadJson: JSON.stringify({ s: 'é'.repeat(600) }) }, /^payload_json would take more than 1024 bytes as stored .*INGEST_MAX_PAYLOAD_BYTES, 1024 bytes$/],
    ['payload_json under the limit as sent but over it as stored', { payloadJson: `{"a":[${Array(20).fill('1e100').join(',')}]}` }, /^payload_json would take more than 1024 bytes as stored/],
    ['payload_json with 1e400', { payloadJson: '{"a":1e400}' }, /^payload_json has a number outside the IEEE-754 double range .*: 1e400$/],
    ['a Struct over the size limit', { payloadJson: undefined, payload: { s: 'x'.repeat(1100) } }, /^payload would take more than 1024 bytes as stored .*INGEST_MAX_PAYLOAD_BYTES/],
    ['a Struct whose numbers are printed in full when stored', { payloadJson: undefined, payload: { a: [1e300, 1e300, 1e300, 1e300] } }, /^payload would take more than 1024 bytes as stored/],
    ['a Struct with Infinity', { payloadJson: undefined, payload: { n: Number.POSITIVE_INFINITY } }, /NaN or infinite/],
    ['a Struct with NaN', { payloadJson: undefined, payload: { n: Number.NaN } }, /NaN or infinite/],
    ['a Struct nested too deep', { payloadJson: undefined, payload: { a: { b: { c: { d: { e: {} } } } } } }, /more than 5 levels deep/],
  ])('when an event has %s, then it is rejected with a reason naming the rule', (_name, overrides, reason) => {
    const result = validator.validate(event(overrides));
    expect(typeof result).toBe('string');
    expect(result).toMatch(reason);
  });

  test('when a timestamp is exactly at the allowed skew, then it is accepted', () => {
    expect(typeof validator.validate(event({ timestamp: { seconds: NOW / 1000 + 600, nanos: 0 } })))
      .toBe('object');
  });
});

const LIMITS = { maxDepth: 5, maxStoredBytes: 64 * 1024 };

const STORABLE_TEXTS: [string][] = [
  ['{}'],
  ['{"a":"\\\\u0000 is an escaped backslash, then text"}'],
  ['{"emoji":"\\ud83d\\ude00","e":"\\u00e9"}'],
  ['{"n":[0,-1,1.5,1e10,-2.5E-3,1e308,-1.7976931348623157e308,4.9e-324,2.2250738585072014e-308,0e5]}'],
  [`{"n":${'9'.repeat(299)}}`],
  ['{"a":[[[[1]]]]}'],
  ['{"s":"[[[[[[[[[[ not nesting ]]]]]]]]]]"}'],
  ['{"n":[1,2,{"x":[3]}],"s":"5e"}'],
];

const REFUSED_TEXTS: [string, RegExp][] = [
  ['{"a":"\\u0000"}', /U\+0000/],
  ['{"\\u0000":1}', /U\+0000/],
  ['{"a":"\\ud800"}', /unpaired/],
  ['{"a":"\\ud800\\u0041"}', /unpaired/],
  ['{"a":"\\udc00"}', /unpaired/],
  ['{"a":1e400}', /double range.*: 1e400$/],
  ['{"a":-1e309}', /double range/],
  ['{"a":1e-400}', /double range/],
  [`{"a":1${'0'.repeat(309)}}`, /double range/],
  [`{"a":0.${'0'.repeat(330)}1}`, /double range/],
  ['{"a":1e131072}', /double range/],
  ['{"a":1e9999999999}', /double range/],
  [`{"a":1.${'0'.repeat(16_384)}}`, /numeric/],
  ['{"a":0e9999999999}', /numeric/],
  ['{"a":[[[[[1]]]]]}', /more than 5 levels/],
  ['{"a":{"b":{"c":{"d":{"e":{}}}}}}', /more than 5 levels/],
  [`{"a":[${Array(300).fill('1e300').join(',')}]}`, /more than 65536 bytes as stored/],
];

describe('inspectJsonText', () => {
  test.each(STORABLE_TEXTS)('when the text is %s, then it is storable', (text) => {
    expect(inspectJsonText(text, LIMITS)).toBeUndefined();
  });

  test.each(REFUSED_TEXTS)('when the text is %s, then it is refused', (text, reason) => {
    expect(inspectJsonText(text, LIMITS)).toMatch(reason);
  });

  test.each<[string, string]>([
    ['{ "b" : [1, 2.50] ,"a":"x" }', '{"a": "x", "b": [1, 2.50]}'],
    ['{"n":[1e3,2.5e-3,-1.5E+1,1e-2]}', '{"n": [1000, 0.0025, -15, 0.01]}'],
    ['{"s":"\\/\\u00e9\\u0041\\n\\u0001\\ud83d\\ude00é😀"}', '{"s": "/éA\\n\\u0001😀é😀"}'],
  ])('when the text is %s, then its stored size is counted as jsonb prints it (%s)', (text, printed) => {
    const size = Buffer.byteLength(printed);
    expect(inspectJsonText(text, { maxDepth: 5, maxStoredBytes: size })).toBeUndefined();
    expect(inspectJsonText(text, { maxDepth: 5, maxStoredBytes: size - 1 })).toMatch(/more than/);
  });
});

describe('JsonObjectScanner (the validator\'s path for payload_json: syntax, UTF-8 and the stored form in one pass over the bytes)', () => {
  const scanner = new JsonObjectScanner(LIMITS);
  const scan = (text: string, limits = LIMITS): string | undefined => {
    const result = (limits === LIMITS ? scanner : new JsonObjectScanner(limits)).scan(Buffer.from(text));
    return typeof result === 'string' ? result : undefined;
  };

  test.each(STORABLE_TEXTS)('when the text is %s, then it is storable', (text) => {
    expect(scan(text)).toBeUndefined();
  });

  test.each(REFUSED_TEXTS)('when the text is %s, then it is refused for the same reason as by inspectJsonText', (text, reason) => {
    expect(scan(text)).toMatch(reason);
  });

  test('when nesting is exactly at the limit, then it is storable', () => {
    expect(scan('{"a":{"b":{"c":{"d":{"e":1}}}}}')).toBeUndefined();
  });

  test('when compact text is small as sent but its separators pass the limit as stored, then it is refused', () => {
    const text = `{"a":[${Array(400).fill(1).join(',')}]}`;
    expect(text.length).toBeLessThan(1024);
    expect(scan(text, { maxDepth: 5, maxStoredBytes: 1024 })).toMatch(/more than 1024 bytes/);
  });

  test.each<[string, RegExp]>([
    ['', /^is not valid JSON: unexpected end of input at byte 0$/],
    ['{a:1}', /^is not valid JSON: unexpected 'a' at byte 1 where a key \(a string\) should be$/],
    ['{"a" 1}', /unexpected '1' at byte 5 where ':' should be$/],
    ['{"a":1,}', /unexpected '}' at byte 7 where a key/],
    ['{"a":[1,]}', /unexpected ']' at byte 8$/],
    ['{"a":01}', /unexpected '1' at byte 6$/],
    ['{"a":1.}', /unexpected '}' at byte 7 after a number's '.'$/],
    ['{"a":-}', /unexpected '}' at byte 6 in a number$/],
    ['{"a":1e}', /in a number's exponent$/],
    ['{"a":tru}', /unexpected 't' at byte 5$/],
    ['{"a":"x}', /the string at byte 5 is not closed$/],
    ['{"a":"\t"}'.replace('\\t', '\t'), /control character\) inside the string at byte 5; JSON requires it escaped$/],
    ['{"a":"\\x"}', /'x' cannot follow '\\' \(at byte 6\)$/],
    ['{"a":"\\u12"}', /'\\u' must be followed by four hex digits/],
    ['{"a":1}}', /unexpected '}' at byte 7 after the JSON value$/],
    ['{"a":1} {"b":2}', /after the JSON value$/],
    ['{"a":1]', /unexpected ']' at byte 6$/],
    ['[1,2]', /^must be a JSON object, not an array$/],
    ['"text"', /^must be a JSON object, not a string$/],
    ['null', /^must be a JSON object, not null$/],
    ['true', /^must be a JSON object, not a boolean$/],
    ['-4.5', /^must be a JSON object, not a number$/],
    [' \t\r\n ', /unexpected end of input/],
  ])('when the text is %j, then it is refused with %s', (text, reason) => {
    expect(scan(text)).toMatch(reason);
  });

  test('when random texts of JSON fragments are scanned, then exactly those that JSON.parse accepts as an object and inspectJsonText passes are accepted', () => {
    const atoms = ['{', '}', '[', ']', ',', ':', '"a"', '"b"', '"\\u0000"', '"\\ud800"', '"\\ud83d\\ude00"', '"\\u00E9"', '1', '-0', '01', '1.', '.5', '1e5', '1E+400', '1e-400', '-2.5e-3', 'true', 'tru', 'false', 'null', ' ', '\n', '\t', '"x\\ny"', '"\\/"', '"é"', '"\\q"', '-', '"\u4e2d\u{1F600}"', '"a\tb"'];
    const next = random(2026);
    let accepted = 0;
    for (let n = 0; n < 40_000; n++) {
      let text = '';
      const parts = 1 + Math.floor(next() * 12);
      for (let i = 0; i < parts; i++) text += atoms[Math.floor(next() * atoms.length)];
      if (next() < 0.5) text = `{"k":${text}}`;
      let reference: boolean;
      try {
        const parsed: unknown = JSON.parse(text);
        reference = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && inspectJsonText(text, LIMITS) === undefined;
      } catch {
        reference = false;
      }
      const ours = scan(text) === undefined;
      if (ours !== reference) throw new Error(`${JSON.stringify(text)}: scanner ${ours ? 'accepts' : `refuses (${scan(text)})`}, JSON.parse + inspectJsonText ${reference ? 'accept' : 'refuse'}`);
      if (ours) accepted++;
    }
    // The generator must produce both kinds for the comparison to mean anything.
    expect(accepted).toBeGreaterThan(500);
  });

  test('when random storable texts (escapes, surrogate pairs, non-ASCII, numbers with exponents) are scanned, then each one\'s stored size is exactly what inspectJsonText counts', () => {
    const atoms = ['"a"', '"\\u0041"', '"\\u00E9"', '"\\u4e2d"', '"\\u001f"', '"\\u0022\\u005c"', '"\\ud83d\\ude00"', '"\\/"', '"\\n\\t\\""', '"é\u4e2d\u{1F600}"', '1', '-0', '1e5', '-2.5e-3', '123.456', 'true', 'null', '{}', '[]', `"${'x'.repeat(300)}"`];
    const next = random(7);
    // The smallest limit that passes the text: the stored size as each one counts it.
    const storedSize = (passes: (maxStoredBytes: number) => boolean): number => {
      let low = 0;
      let high = 1 << 16;
      while (low < high) {
        const middle = Math.floor((low + high) / 2);
        if (passes(middle)) high = middle;
        else low = middle + 1;
      }
      return low;
    };
    for (let n = 0; n < 2000; n++) {
      const values = Array.from({ length: 1 + Math.floor(next() * 6) }, () => atoms[Math.floor(next() * atoms.length)]);
      const text = next() < 0.5 ? `{"k":[${values.join(',')}]}` : `{${values.map((value, i) => `${atoms[i % 10]}:${value}`).join(', ')}}`;
      const byScan = storedSize((maxStoredBytes) => scan(text, { maxDepth: 5, maxStoredBytes }) === undefined);
      const byText = storedSize((maxStoredBytes) => inspectJsonText(text, { maxDepth: 5, maxStoredBytes }) === undefined);
      if (byScan !== byText) throw new Error(`${JSON.stringify(text)}: the scan counts ${byScan} bytes stored, inspectJsonText ${byText}`);
    }
  });
});

describe('inspectStringifiedJson (a Struct payload as JSON.stringify writes it)', () => {
  test('when a Struct holds doubles that print as exponents, then their full digits count against the limit', () => {
    expect(inspectStringifiedJson(JSON.stringify({ a: [1e300, 1e300] }), { maxDepth: 5, maxStoredBytes: 1024 })).toBeUndefined();
    expect(inspectStringifiedJson(JSON.stringify({ a: [1e300, 1e300, 1e300, 1e300] }), { maxDepth: 5, maxStoredBytes: 1024 })).toMatch(/more than 1024 bytes/);
  });
});

describe('inspectJsonValue', () => {
  test('when a value holds an unpaired surrogate, then it is refused, and a paired one passes', () => {
    expect(inspectJsonValue({ s: 'a\ud800b' }, 5)).toMatch(/unpaired/);
    expect(inspectJsonValue({ s: '\u{1F600}' }, 5)).toBeUndefined();
  });

  test('when a value holds undefined (a Value with no kind), then it is refused', () => {
    expect(inspectJsonValue({ s: undefined }, 5)).toMatch(/no kind/);
  });
});
