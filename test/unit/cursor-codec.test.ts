import { CursorCodec, CURSOR_SCOPE_MESSAGE, INVALID_CURSOR_MESSAGE } from '../../src/domain/query/cursor-codec';
import type { EventFilter } from '../../src/domain/query/event-filter';
import { queryScope } from '../../src/domain/query/query-scope';
import { VaultError } from '../../src/domain/vault-error';

const TENANT = '7b0d8a52-51a3-4c8e-9a53-0c7c1f3f4e11';
const OTHER_TENANT = '0a7a2a29-9d1e-4f3c-8f43-5b0f0e3a2d22';
const NO_FILTER: EventFilter = { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined };
const scope = queryScope(NO_FILTER, 'newest-first');
const position = { timestampUs: 1_704_067_200_123_456n, eventId: 'evt-0001' };

function rejection(run: () => unknown): VaultError {
  try {
    run();
  } catch (error) {
    if (error instanceof VaultError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('CursorCodec', () => {
  const codec = new CursorCodec(Buffer.alloc(32, 7));

  test('when a cursor is decoded by the tenant and scope it was made for, then it gives the exact position back', () => {
    const cursor = codec.encode(TENANT, scope, position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(codec.decode(cursor, TENANT, scope)).toEqual(position);
  });

  test.each([
    ['a negative timestamp', { timestampUs: -62_135_596_800_000_000n, eventId: 'a' }],
    ['a non-ASCII event id', { timestampUs: 0n, eventId: 'é-ü-☃' }],
    ['a 128-character event id', { timestampUs: 253_402_300_799_999_999n, eventId: 'x'.repeat(128) }],
  ])('when the position has %s, then it round-trips', (_name, at) => {
    expect(codec.decode(codec.encode(TENANT, scope, at), TENANT, scope)).toEqual(at);
  });

  test('when another instance has the same key, then it accepts the cursor', () => {
    const cursor = codec.encode(TENANT, scope, position);
    expect(new CursorCodec(Buffer.alloc(32, 7)).decode(cursor, TENANT, scope)).toEqual(position);
  });

  test('when the key differs, then the cursor is INVALID_ARGUMENT', () => {
    const cursor = new CursorCodec(Buffer.alloc(32, 8)).encode(TENANT, scope, position);
    expect(rejection(() => codec.decode(cursor, TENANT, scope))).toMatchObject({ code: 'INVALID_ARGUMENT', fieldViolations: [{ field: 'cursor', description: INVALID_CURSOR_MESSAGE }] });
  });

  test("when another tenant presents the cursor, then it is INVALID_ARGUMENT like a forged one", () => {
    const cursor = codec.encode(TENANT, scope, position);
    expect(rejection(() => codec.decode(cursor, OTHER_TENANT, scope)).fieldViolations[0]?.description).toBe(INVALID_CURSOR_MESSAGE);
  });

  test.each<[string, EventFilter, 'newest-first' | 'oldest-first']>([
    ['another order', NO_FILTER, 'oldest-first'],
    ['another start', { ...NO_FILTER, startUs: 1n }, 'newest-first'],
    ['another end', { ...NO_FILTER, endUs: 1n }, 'newest-first'],
    ['another type list', { ...NO_FILTER, eventTypes: ['log'] }, 'newest-first'],
    ['another service list', { ...NO_FILTER, serviceNames: ['log'] }, 'newest-first'],
    ['a payload condition', { ...NO_FILTER, payloadContains: '{"a":1}' }, 'newest-first'],
  ])('when the cursor comes back with %s, then it is INVALID_ARGUMENT saying it was made for another filter or order', (_name, filter, order) => {
    const cursor = codec.encode(TENANT, scope, position);
    expect(rejection(() => codec.decode(cursor, TENANT, queryScope(filter, order))).fieldViolations[0]?.description).toBe(CURSOR_SCOPE_MESSAGE);
  });

  test('when any single character of a cursor is changed, then it is INVALID_ARGUMENT', () => {
    const cursor = codec.encode(TENANT, scope, position);
    for (let i = 0; i < cursor.length; i += 1) {
      const altered = cursor.slice(0, i) + (cursor[i] === 'A' ? 'B' : 'A') + cursor.slice(i + 1);
      expect(rejection(() => codec.decode(altered, TENANT, scope)).code).toBe('INVALID_ARGUMENT');
    }
  });

  test('when a cursor is cut short at any length, then it is INVALID_ARGUMENT', () => {
    const cursor = codec.encode(TENANT, scope, position);
    for (let length = 0; length < cursor.length; length += 1) {
      expect(rejection(() => codec.decode(cursor.slice(0, length), TENANT, scope)).code).toBe('INVALID_ARGUMENT');
    }
  });

  test.each([
    ['padding', (cursor: string) => `${cursor}==`],
    ['standard base64 characters', (cursor: string) => cursor.replace(/-/g, '+').replace(/_/g, '/') + '+/'],
    ['whitespace', (cursor: string) => ` ${cursor}`],
    ['a very long string', () => 'A'.repeat(10_000)],
    ['an empty-looking id (no event id bytes)', () => Buffer.alloc(41).toString('base64url')],
  ])('when the cursor has %s, then it is INVALID_ARGUMENT', (_name, mangle) => {
    const cursor = codec.encode(TENANT, scope, position);
    expect(rejection(() => codec.decode(mangle(cursor), TENANT, scope)).code).toBe('INVALID_ARGUMENT');
  });

  test('when the key is shorter than 16 bytes, then the codec refuses it', () => {
    expect(() => new CursorCodec(Buffer.alloc(15))).toThrow(/at least 16 bytes/);
  });
});

describe('queryScope', () => {
  test('when two filters differ only in list order or duplicates after validation, then the scope is the same', () => {
    expect(queryScope({ ...NO_FILTER, eventTypes: ['a', 'b'] }, 'newest-first')).toEqual(queryScope({ ...NO_FILTER, eventTypes: ['a', 'b'] }, 'newest-first'));
    expect(queryScope({ ...NO_FILTER, eventTypes: ['a'] }, 'newest-first')).not.toEqual(queryScope({ ...NO_FILTER, serviceNames: ['a'] }, 'newest-first'));
  });
});
