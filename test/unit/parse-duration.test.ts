import { formatDuration, parseDuration } from '../../src/config/parse-duration';
import { formatByteSize, parseByteSize } from '../../src/config/parse-byte-size';

describe('parseDuration', () => {
  test.each([
    ['1500', 1500],
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['30d', 2_592_000_000],
    ['1h30m', 5_400_000],
  ])('when given %j, then it reads %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', 'soon', '5 s', '5x', 's5', '1h-30m', '-5s'])('when given %j, then it is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  test('when formatting, then the largest exact unit is used', () => {
    expect([formatDuration(250), formatDuration(5000), formatDuration(600_000), formatDuration(86_400_000)]).toEqual(['250ms', '5s', '10m', '1d']);
  });
});

describe('parseByteSize', () => {
  test.each([
    ['65536', 65536],
    ['64KiB', 65536],
    ['64kb', 64_000],
    ['8MiB', 8 * 1024 * 1024],
    ['1 GiB', 1024 ** 3],
  ])('when given %j, then it reads %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  test.each(['', 'lots', '12 bananas', '-5'])('when given %j, then it is not a size', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });

  test('when formatting, then binary units are used', () => {
    expect([formatByteSize(100), formatByteSize(65536), formatByteSize(16 * 1024 * 1024)]).toEqual(['100 bytes', '64 KiB', '16 MiB']);
  });
});
