import { compactJson, eventHumanLine, eventJsonLine } from '../../src/cli/remote/event-line';
import { parseDurationFlag, parseTimeFlag } from '../../src/cli/remote/parse-time';
import { UsageError } from '../../src/cli/output';

const NOW = new Date('2026-01-02T03:04:05.678Z');

describe('the remote commands’ flag parsing and event lines', () => {
  test.each([
    ['2024-05-01T12:00:00Z', '2024-05-01T12:00:00.000Z'],
    ['2024-05-01T14:00:00.5+02:00', '2024-05-01T12:00:00.500Z'],
    ['2024-05-01', '2024-05-01T00:00:00.000Z'],
    ['now', NOW.toISOString()],
    ['15m', '2026-01-02T02:49:05.678Z'],
    ['1d2h', '2026-01-01T01:04:05.678Z'],
  ])('when a time flag is %j, then it is %s', (text, iso) => {
    expect(parseTimeFlag(text, '--from', NOW).toISOString()).toBe(iso);
  });

  test.each(['15', 'yesterday', '2024-05-01T12:00:00', '2024-13-45', ''])('when a time flag is %j, then it is a UsageError naming the flag', (text) => {
    expect(() => parseTimeFlag(text, '--from', NOW)).toThrow(UsageError);
    expect(() => parseTimeFlag(text, '--from', NOW)).toThrow(/^--from must be/);
  });

  test('when a duration flag has no unit, then it is refused; with one, it is milliseconds', () => {
    expect(parseDurationFlag('1h30m', '--bucket')).toBe(5_400_000);
    expect(() => parseDurationFlag('60', '--bucket')).toThrow('--bucket must be a duration with a unit');
  });

  test('when JSON text has whitespace between tokens, then compactJson drops it but keeps it inside strings', () => {
    expect(compactJson('{"a": 1, "b": [1, 2], "c": "x, y: \\" z"}')).toBe('{"a":1,"b":[1,2],"c":"x, y: \\" z"}');
    expect(compactJson('{"big":12345678901234567890}')).toBe('{"big":12345678901234567890}');
  });

  test('when an event carries control characters, then the human line escapes them and the JSON line stays valid and exact', () => {
    const event = { eventId: 'e-1', timestamp: NOW, eventType: 'log', serviceName: 'evil\u001b[2Jsvc\u009b', payload: {}, payloadJson: '{"n": 12345678901234567890}', receivedAt: undefined };
    expect(eventHumanLine(event, false)).toBe(`${NOW.toISOString()} log evil\\u001b[2Jsvc\\u009b {"n":12345678901234567890}\n`);
    const line = eventJsonLine(event);
    expect(JSON.parse(line)).toMatchObject({ eventId: 'e-1', serviceName: 'evil\u001b[2Jsvc\u009b', receivedAt: null });
    expect(line).toContain('"payload":{"n":12345678901234567890}');
  });
});
