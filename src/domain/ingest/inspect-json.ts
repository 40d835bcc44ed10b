/**
 * What PostgreSQL's jsonb refuses although JSON.parse accepts it. A payload
 * carrying any of these would fail the whole COPY, so each is found first and
 * rejects its event alone.
 */

/** numeric (which jsonb stores numbers as) holds at most this many digits before the decimal point... */
export const PG_NUMERIC_MAX_INTEGER_DIGITS = 131_072;
/** ...and at most this many after it. */
export const PG_NUMERIC_MAX_FRACTION_DIGITS = 16_383;

const NUL_REASON = 'contains U+0000 (NUL) in a string or key, which PostgreSQL cannot store (jsonb and text refuse it)';
const SURROGATE_REASON = 'contains an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair), which PostgreSQL jsonb refuses';
const NUMBER_REASON = `has a number outside PostgreSQL numeric's range (at most ${PG_NUMERIC_MAX_INTEGER_DIGITS} digits before and ${PG_NUMERIC_MAX_FRACTION_DIGITS} after the decimal point)`;
const depthReason = (maxDepth: number): string => `nests objects and arrays more than ${maxDepth} levels deep (the limit is ${maxDepth})`;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LOWER_U = 0x75;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isDigit = (code: number): boolean => code >= ZERO && code <= NINE;

/**
 * Checks JSON text that JSON.parse has accepted for what jsonb refuses: \u0000
 * escapes, unpaired surrogate escapes, numbers beyond numeric, and nesting past
 * `maxDepth`. One pass over the characters, no allocation. Returns the reason
 * (to follow "payload_json ") or undefined when the text is storable.
 */
export function inspectJsonText(text: string, maxDepth: number): string | undefined {
  const length = text.length;
  let depth = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      for (i++; i < length; i++) {
        const inner = text.charCodeAt(i);
        if (inner === QUOTE) break;
        if (inner !== BACKSLASH) continue;
        i++;
        if (text.charCodeAt(i) !== LOWER_U) continue;
        const unit = parseInt(text.slice(i + 1, i + 5), 16);
        i += 4;
        if (unit === 0) return NUL_REASON;
        if (unit >= 0xdc00 && unit <= 0xdfff) return SURROGATE_REASON;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = text.charCodeAt(i + 1) === BACKSLASH && text.charCodeAt(i + 2) === LOWER_U ? parseInt(text.slice(i + 3, i + 7), 16) : -1;
          if (!(low >= 0xdc00 && low <= 0xdfff)) return SURROGATE_REASON;
          i += 6;
        }
      }
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (++depth > maxDepth) return depthReason(maxDepth);
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
    } else if (code === MINUS || isDigit(code)) {
      const end = numberEnd(text, i);
      if (!numberFits(text, i, end)) return NUMBER_REASON;
      i = end - 1;
    }
  }
  return undefined;
}

/** A digit or point before an exponent marker: text without one holds no number with an exponent. */
const MAY_HOLD_EXPONENT = /[0-9.][eE]/;

/**
 * inspectJsonText's verdict for text JSON.parse turned into `parsed`, found
 * the cheap way when it can be: text with no \u escape, no exponent and
 * fewer characters than numeric's fraction digits cannot hold a NUL, a lone
 * surrogate escape or a number out of range, so only nesting is left, and it
 * is read off the parsed value (a handful of nodes, not every character).
 * Anything else gets the full scan.
 */
export function inspectParsedJson(text: string, parsed: object, maxDepth: number): string | undefined {
  if (text.length > PG_NUMERIC_MAX_FRACTION_DIGITS || text.includes('\\u') || MAY_HOLD_EXPONENT.test(text)) return inspectJsonText(text, maxDepth);
  return nestsDeeperThan(parsed, maxDepth, 1) ? depthReason(maxDepth) : undefined;
}

/** Whether an object or array at `depth` has objects or arrays deeper than `maxDepth` (recursion stops at maxDepth + 1). */
function nestsDeeperThan(value: object, maxDepth: number, depth: number): boolean {
  if (depth > maxDepth) return true;
  const items: unknown[] = Array.isArray(value) ? value : Object.values(value);
  for (const item of items) {
    if (typeof item === 'object' && item !== null && nestsDeeperThan(item, maxDepth, depth + 1)) return true;
  }
  return false;
}

/** The index just past the number token starting at `start`. */
function numberEnd(text: string, start: number): number {
  let i = start;
  for (; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!(isDigit(code) || code === MINUS || code === DOT || code === 0x2b || code === 0x65 || code === 0x45)) break;
  }
  return i;
}

/**
 * Whether a JSON number fits numeric. With d integer digits, f fraction
 * digits and exponent e, numeric needs d + e digits before the point and
 * f - e after it. (Leading zeros count, which errs on the side of refusing
 * absurd values such as 0.5e131072.)
 */
function numberFits(text: string, start: number, end: number): boolean {
  if (end - start < 300) {
    // Short tokens: cheap test first, digits alone cannot break the limits.
    let hasExponent = false;
    for (let i = start; i < end; i++) {
      const code = text.charCodeAt(i);
      if (code === 0x65 || code === 0x45) hasExponent = true;
    }
    if (!hasExponent) return true;
  }
  const token = text.slice(start, end);
  const match = /^-?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (!match) return false;
  const integerDigits = match[1]!.length;
  const fractionDigits = (match[2] ?? '').length;
  const exponentText = match[3] ?? '0';
  // An exponent of more than 9 digits is out of range whatever the mantissa.
  if (exponentText.replace(/^[+-]?0*/, '').length > 9) return false;
  const exponent = Number(exponentText);
  return integerDigits + exponent <= PG_NUMERIC_MAX_INTEGER_DIGITS && fractionDigits - exponent <= PG_NUMERIC_MAX_FRACTION_DIGITS;
}

/**
 * Checks a payload given as a value (a google.protobuf.Struct, unwrapped) for
 * what JSON or jsonb cannot hold: NUL in strings or keys, unpaired surrogates,
 * non-finite numbers, values with no kind, nesting past `maxDepth`.
 * Returns the reason (to follow "payload ") or undefined.
 */
export function inspectJsonValue(value: unknown, maxDepth: number, depth = 0): string | undefined {
  switch (typeof value) {
    case 'string':
      return checkString(value);
    case 'number':
      return Number.isFinite(value) ? undefined : 'has a number that is NaN or infinite, which JSON cannot represent';
    case 'boolean':
      return undefined;
    case 'object': {
      if (value === null) return undefined;
      if (depth + 1 > maxDepth) return depthReason(maxDepth);
      if (Array.isArray(value)) {
        for (const item of value) {
          const reason = inspectJsonValue(item, maxDepth, depth + 1);
          if (reason !== undefined) return reason;
        }
        return undefined;
      }
      for (const [key, item] of Object.entries(value)) {
        const reason = checkString(key) ?? inspectJsonValue(item, maxDepth, depth + 1);
        if (reason !== undefined) return reason;
      }
      return undefined;
    }
    default:
      return 'has a google.protobuf.Value with no kind set';
  }
}

/** With the u flag a paired surrogate is one code point, so only an unpaired one is in category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether a string holds a UTF-16 surrogate without its pair (not Unicode text; jsonb refuses it). */
export function hasUnpairedSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

function checkString(text: string): string | undefined {
  if (text.includes('\0')) return NUL_REASON;
  if (hasUnpairedSurrogate(text)) return 'contains an unpaired UTF-16 surrogate, which PostgreSQL jsonb refuses';
  return undefined;
}
