/**
 * What PostgreSQL's jsonb refuses although JSON.parse accepts it. A payload
 * carrying any of these would fail the whole COPY, so each is found first and
 * rejects its event alone.
 */

/** numeric (which jsonb stores numbers as) holds at most this many digits before the decimal point... */
export const PG_NUMERIC_MAX_INTEGER_DIGITS = 131_072;
/** ...and at most this many after it. */
export const PG_NUMERIC_MAX_FRACTION_DIGITS = 16_383;

export const JSON_NUL_REASON = 'contains U+0000 (NUL) in a string or key, which PostgreSQL cannot store (jsonb and text refuse it)';
export const JSON_SURROGATE_REASON = 'contains an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair), which PostgreSQL jsonb refuses';
const NUMBER_REASON = `has a number outside PostgreSQL numeric's range (at most ${PG_NUMERIC_MAX_INTEGER_DIGITS} digits before and ${PG_NUMERIC_MAX_FRACTION_DIGITS} after the decimal point)`;
export const depthReason = (maxDepth: number): string => `nests objects and arrays more than ${maxDepth} levels deep (the limit is ${maxDepth})`;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const LOWER_U = 0x75;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const isDigit = (code: number): boolean => code >= ZERO && code <= NINE;
const isWhitespace = (code: number): boolean => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

/** What a payload's text is checked against: INGEST_MAX_PAYLOAD_DEPTH and INGEST_MAX_PAYLOAD_BYTES. */
export interface JsonTextLimits {
  readonly maxDepth: number;
  /** The most bytes the payload may take as PostgreSQL stores it and prints it back (jsonb's text form). */
  readonly maxStoredBytes: number;
}

export const storedSizeReason = (limits: JsonTextLimits): string =>
  `would take more than ${limits.maxStoredBytes} bytes as stored (PostgreSQL's jsonb writes every number out in full digits, 1e300 as 301 characters, and puts a space after each ',' and ':'); the limit is INGEST_MAX_PAYLOAD_BYTES, ${limits.maxStoredBytes} bytes`;

/**
 * Checks JSON text that is known to be valid JSON (JSON.stringify's) for what jsonb refuses or
 * would store too large: \u0000 escapes, unpaired surrogate escapes, numbers
 * outside the IEEE-754 double range or beyond numeric, nesting past
 * `maxDepth`, and a stored form larger than `maxStoredBytes`. One pass over
 * the characters. Returns the reason (to follow "payload_json ") or undefined
 * when the text is storable.
 *
 * The stored size is jsonb's text output, counted as the scan goes: no
 * whitespace, ", " and ": " as separators, strings re-escaped (\/ as /, \u
 * escapes of printable characters as the characters), numbers in numeric's
 * plain notation. It is exact but for duplicate keys (jsonb keeps the last;
 * all are counted) and a plain `-0` (printed as 0), so it never undercounts.
 */
export function inspectJsonText(text: string, limits: JsonTextLimits): string | undefined {
  const { maxDepth, maxStoredBytes } = limits;
  const length = text.length;
  let depth = 0;
  let stored = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      stored += 2;
      for (i++; i < length; i++) {
        const inner = text.charCodeAt(i);
        if (inner === QUOTE) break;
        if (inner !== BACKSLASH) {
          // A raw surrogate pair is two units and four bytes; any other unit is its UTF-8 length.
          stored += inner < 0x80 ? 1 : inner < 0x800 || (inner >= 0xd800 && inner <= 0xdfff) ? 2 : 3;
          continue;
        }
        i++;
        const escaped = text.charCodeAt(i);
        if (escaped !== LOWER_U) {
          stored += escaped === SLASH ? 1 : 2;
          continue;
        }
        const unit = parseInt(text.slice(i + 1, i + 5), 16);
        i += 4;
        if (unit === 0) return JSON_NUL_REASON;
        if (unit >= 0xdc00 && unit <= 0xdfff) return JSON_SURROGATE_REASON;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = text.charCodeAt(i + 1) === BACKSLASH && text.charCodeAt(i + 2) === LOWER_U ? parseInt(text.slice(i + 3, i + 7), 16) : -1;
          if (!(low >= 0xdc00 && low <= 0xdfff)) return JSON_SURROGATE_REASON;
          i += 6;
          stored += 4;
        } else {
          // Control characters stay escaped (\u001f, or \n and the like: at most 6); others become themselves.
          stored += unit < 0x20 ? 6 : unit === QUOTE || unit === BACKSLASH ? 2 : unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
        }
      }
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (++depth > maxDepth) return depthReason(maxDepth);
      stored += 1;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
      stored += 1;
    } else if (code === COMMA || code === COLON) {
      stored += 2;
    } else if (code === MINUS || isDigit(code)) {
      const end = numberEnd(text, i);
      const number = storedNumber(text, i, end);
      if (typeof number === 'string') return number;
      stored += number;
      i = end - 1;
    } else if (!isWhitespace(code)) {
      stored += 1;
    }
    if (stored > maxStoredBytes) return storedSizeReason(limits);
  }
  return undefined;
}

/** A digit or point before an exponent marker: text without one holds no number with an exponent. */
const MAY_HOLD_EXPONENT = /[0-9.][eE]/;
/** A number of this many digits or more may be past a double's range without an exponent (1e308 has 309). */
const LONG_DIGIT_RUN = /[0-9]{300}/;
/** One UTF-16 unit is at most 3 bytes stored, and a ',' or ':' becomes 2: text without exponents stores in at most 3 bytes per unit. */
const STORED_BYTES_PER_UNIT = 3;

/**
 * The stored-form verdict for JSON.stringify's text of a payload that
 * inspectJsonValue has accepted (finite numbers, nesting within the limit):
 * only the stored size is left to check, and the full scan runs only when
 * the text could pass the limit (numbers such as 1e300 are printed in full).
 */
export function inspectStringifiedJson(text: string, limits: JsonTextLimits): string | undefined {
  return needsFullScan(text, limits) ? inspectJsonText(text, limits) : undefined;
}

function needsFullScan(text: string, limits: JsonTextLimits): boolean {
  return (
    text.length > PG_NUMERIC_MAX_FRACTION_DIGITS ||
    text.length * STORED_BYTES_PER_UNIT > limits.maxStoredBytes ||
    text.includes('\\u') ||
    MAY_HOLD_EXPONENT.test(text) ||
    (text.length >= 300 && LONG_DIGIT_RUN.test(text))
  );
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

const DOUBLE_RANGE = 'the IEEE-754 double range (magnitudes from about 4.9e-324 to 1.7976931348623157e308, or 0)';
const NUMBER_TOKEN = /^-?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** storedNumber for a whole number token (the byte scanner's rare path: exponents and very long numbers). */
export function storedNumberLength(token: string): number | string {
  return storedNumber(token, 0, token.length);
}

/**
 * The length of a JSON number as jsonb stores and prints it (numeric's plain
 * notation: 1e3 as 1000, 2.50e-3 as 0.00250), or why it cannot be stored:
 * outside the double range (1e400 would come back as Infinity in a Struct,
 * 1e-400 as 0) or beyond numeric. Tokens without an exponent and under 300
 * characters are printed as written and hold no such number.
 */
function storedNumber(text: string, start: number, end: number): number | string {
  const length = end - start;
  if (length < 300) {
    let hasExponent = false;
    for (let i = start; i < end; i++) {
      const code = text.charCodeAt(i);
      if (code === 0x65 || code === 0x45) hasExponent = true;
    }
    if (!hasExponent) return length;
  }
  const token = text.slice(start, end);
  const match = NUMBER_TOKEN.exec(token);
  if (!match) return NUMBER_REASON;
  const integerDigits = match[1]!;
  const fractionDigits = match[2] ?? '';
  const exponentText = match[3] ?? '0';
  const value = Number(token);
  if (!Number.isFinite(value) || (value === 0 && /[1-9]/.test(integerDigits + fractionDigits))) {
    return `has a number outside ${DOUBLE_RANGE}: ${token.length > 40 ? `${token.slice(0, 40)}...` : token}`;
  }
  // Inside the double range the exponent is small: numeric's limits only bind on long digit strings.
  const exponent = Number(exponentText);
  if (integerDigits.length + exponent > PG_NUMERIC_MAX_INTEGER_DIGITS || fractionDigits.length - exponent > PG_NUMERIC_MAX_FRACTION_DIGITS) return NUMBER_REASON;
  // numeric drops the mantissa's leading zeros before the point (0.5e1 is 5) and the sign of zero.
  const digits = integerDigits + fractionDigits;
  const leadingZeros = digits.length - digits.replace(/^0+/, '').length;
  const nonZero = leadingZeros < digits.length;
  const pointAt = integerDigits.length + exponent;
  const scale = Math.max(0, fractionDigits.length - exponent);
  const integerPart = nonZero ? Math.max(1, pointAt - Math.min(leadingZeros, pointAt)) : 1;
  return (nonZero && token.startsWith('-') ? 1 : 0) + integerPart + (scale > 0 ? 1 + scale : 0);
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
  if (text.includes('\0')) return JSON_NUL_REASON;
  if (hasUnpairedSurrogate(text)) return 'contains an unpaired UTF-16 surrogate, which PostgreSQL jsonb refuses';
  return undefined;
}
