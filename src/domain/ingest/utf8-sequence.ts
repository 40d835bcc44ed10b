const isContinuation = (code: number | undefined): boolean => code !== undefined && code >= 0x80 && code <= 0xbf;

/**
 * The length of the well-formed UTF-8 sequence of the non-ASCII character at
 * `i` of `bytes`, which end at `end` (2 to 4), or 0: overlong forms, encoded
 * surrogates (which PostgreSQL refuses), code points past U+10FFFF and cut
 * sequences are not well formed (Unicode's table 3-7).
 */
export function utf8SequenceLength(bytes: Uint8Array, i: number, end: number): number {
  const lead = bytes[i]!;
  const second = i + 1 < end ? bytes[i + 1] : undefined;
  const third = i + 2 < end ? bytes[i + 2] : undefined;
  if (lead >= 0xc2 && lead <= 0xdf) return isContinuation(second) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (second === undefined) return 0;
    const secondOk = lead === 0xe0 ? second >= 0xa0 && second <= 0xbf : lead === 0xed ? second >= 0x80 && second <= 0x9f : isContinuation(second);
    return secondOk && isContinuation(third) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (second === undefined) return 0;
    const secondOk = lead === 0xf0 ? second >= 0x90 && second <= 0xbf : lead === 0xf4 ? second >= 0x80 && second <= 0x8f : isContinuation(second);
    return secondOk && isContinuation(third) && isContinuation(i + 3 < end ? bytes[i + 3] : undefined) ? 4 : 0;
  }
  return 0;
}
