/**
 * payload_json as it arrives: UTF-8 bytes straight from the request message.
 * One pass over them checks everything that JSON.parse and inspectJsonText
 * checked together, without building a string or an object: the UTF-8 is
 * well formed, the text is one JSON object (RFC 8259's grammar, strictly),
 * and PostgreSQL's jsonb will take it (no \u0000, no unpaired surrogate
 * escape, numbers in the double range and in numeric's, nesting within the
 * limit, a stored form within the byte limit). The bytes are then written
 * to COPY as they are (encode-copy-text.ts); the scan also says whether any
 * of them needs COPY's escaping.
 */
import { utf8SequenceLength } from './utf8-sequence';
import { depthReason, JSON_NUL_REASON, JSON_SURROGATE_REASON, storedNumberLength, storedSizeReason, type JsonTextLimits } from './inspect-json';

/** A payload that passed the scan; `copyEscapes`: whether it holds a backslash, tab, newline or carriage return (COPY text escapes those). */
export interface JsonScanPass {
  readonly copyEscapes: boolean;
}

/** What the scan returns for bytes that are not well-formed UTF-8 (the caller decides what that means for the payload). */
export const MALFORMED_UTF8 = Symbol('malformed UTF-8');

const PASS_PLAIN: JsonScanPass = { copyEscapes: false };
const PASS_ESCAPED: JsonScanPass = { copyEscapes: true };
const EMPTY = new Uint8Array(0);

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_U = 0x75;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Escapes after a backslash other than \u, and how many bytes each takes stored (jsonb prints \/ as /, the rest as written). */
const SIMPLE_ESCAPE_STORED = new Int8Array(128);
for (const [char, stored] of [['"', 2], ['\\', 2], ['/', 1], ['b', 2], ['f', 2], ['n', 2], ['r', 2], ['t', 2]] as const) SIMPLE_ESCAPE_STORED[char.charCodeAt(0)] = stored;

/** Stops the scan at an ill-formed UTF-8 sequence (scan() then returns MALFORMED_UTF8). */
const MALFORMED_UTF8_REASON = 'is not well-formed UTF-8';

/** A number token longer than this may be out of range without an exponent (1e308 has 309 digits); shorter ones without one are stored as written. */
const PLAIN_NUMBER_MAX_LENGTH = 300;

/** What the first character of a top-level value that is not an object says it is. */
function describeTopLevel(code: number): string {
  if (code === OPEN_BRACKET) return 'an array';
  if (code === QUOTE) return 'a string';
  if (code === 0x6e) return 'null';
  if (code === 0x74 || code === 0x66) return 'a boolean';
  return 'a number';
}

function describeByte(code: number | undefined): string {
  if (code === undefined) return 'end of input';
  if (code >= 0x21 && code <= 0x7e) return `'${String.fromCharCode(code)}'`;
  return `byte 0x${code.toString(16).padStart(2, '0')}`;
}

/**
 * A scanner of payloads for these limits: `scan(bytes)` returns a
 * JsonScanPass, or the reason the payload is refused, to follow
 * "payload_json " (such as "is not valid JSON: unexpected '}' at byte 12"),
 * or MALFORMED_UTF8 when a string holds bytes that are not UTF-8.
 * One scanner serves any number of payloads, one at a time.
 */
export class JsonObjectScanner {
  private bytes: Uint8Array = new Uint8Array(0);
  private i = 0;
  private stored = 0;
  private escapes = false;
  private malformedUtf8 = false;
  /** 1 = object, 2 = array, for each open container; `depth` of them are open. */
  private readonly stack: Uint8Array;
  private depth = 0;

  constructor(private readonly limits: JsonTextLimits) {
    this.stack = new Uint8Array(limits.maxDepth + 1);
  }

  scan(bytes: Uint8Array): JsonScanPass | string | typeof MALFORMED_UTF8 {
    this.bytes = bytes;
    this.i = 0;
    this.stored = 0;
    this.escapes = false;
    this.malformedUtf8 = false;
    this.depth = 0;
    try {
      const result = this.scanObject();
      return this.malformedUtf8 ? MALFORMED_UTF8 : result;
    } finally {
      this.bytes = EMPTY;
    }
  }

  private scanObject(): JsonScanPass | string | typeof MALFORMED_UTF8 {
    const { bytes } = this;
    this.skipWhitespace();
    const first = bytes[this.i];
    if (first !== OPEN_BRACE) {
      // Judged as JSON first: garbage is "not valid JSON", a valid array or string "not an object".
      const syntax = this.value();
      if (syntax !== undefined) return syntax;
      return first === undefined ? this.unexpected() : `must be a JSON object, not ${describeTopLevel(first)}`;
    }
    const problem = this.value();
    if (problem !== undefined) return problem;
    return this.escapes ? PASS_ESCAPED : PASS_PLAIN;
  }

  /** One whole value at the position, with everything nested in it; then only whitespace may follow at the top. */
  private value(): string | undefined {
    const { bytes, limits } = this;
    const length = bytes.length;
    for (;;) {
      // Expecting a value.
      this.skipWhitespace();
      const code = bytes[this.i];
      if (code === OPEN_BRACE || code === OPEN_BRACKET) {
        if (this.depth >= limits.maxDepth) return depthReason(limits.maxDepth);
        this.stack[this.depth++] = code === OPEN_BRACE ? 1 : 2;
        this.i++;
        this.stored += 1;
        this.skipWhitespace();
        const close = code === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
        if (bytes[this.i] === close) {
          this.i++;
          this.stored += 1;
          this.depth--;
        } else if (code === OPEN_BRACE) {
          const key = this.key();
          if (key !== undefined) return key;
          continue;
        } else {
          continue;
        }
      } else if (code === QUOTE) {
        const problem = this.string();
        if (problem !== undefined) return problem;
      } else if (code === MINUS || (code !== undefined && code >= ZERO && code <= NINE)) {
        const problem = this.number();
        if (problem !== undefined) return problem;
      } else if (code === 0x74) {
        if (!this.literal('true')) return this.unexpected();
      } else if (code === 0x66) {
        if (!this.literal('false')) return this.unexpected();
      } else if (code === 0x6e) {
        if (!this.literal('null')) return this.unexpected();
      } else {
        return this.unexpected();
      }
      if (this.stored > limits.maxStoredBytes) return storedSizeReason(limits);
      // After a value: close containers, or a comma and the next member.
      for (;;) {
        this.skipWhitespace();
        if (this.depth === 0) {
          if (this.stored > limits.maxStoredBytes) return storedSizeReason(limits);
          return this.i === length ? undefined : this.unexpected('after the JSON value');
        }
        const next = bytes[this.i];
        const open = this.stack[this.depth - 1];
        if (next === COMMA) {
          this.i++;
          this.stored += 2;
          if (open === 1) {
            this.skipWhitespace();
            const key = this.key();
            if (key !== undefined) return key;
          }
          break;
        }
        if ((next === CLOSE_BRACE && open === 1) || (next === CLOSE_BRACKET && open === 2)) {
          this.i++;
          this.stored += 1;
          this.depth--;
          continue;
        }
        return this.unexpected();
      }
      if (this.stored > limits.maxStoredBytes) return storedSizeReason(limits);
    }
  }

  /** An object member's key and its colon. */
  private key(): string | undefined {
    if (this.bytes[this.i] !== QUOTE) return this.unexpected('where a key (a string) should be');
    const problem = this.string();
    if (problem !== undefined) return problem;
    this.skipWhitespace();
    if (this.bytes[this.i] !== COLON) return this.unexpected("where ':' should be");
    this.i++;
    this.stored += 2;
    return undefined;
  }

  private skipWhitespace(): void {
    const { bytes } = this;
    for (;;) {
      const code = bytes[this.i];
      if (code === SPACE) this.i++;
      else if (code === TAB || code === LF || code === CR) {
        this.escapes = true;
        this.i++;
      } else return;
    }
  }

  private literal(word: string): boolean {
    for (let k = 0; k < word.length; k++) if (this.bytes[this.i + k] !== word.charCodeAt(k)) return false;
    this.i += word.length;
    this.stored += word.length;
    return true;
  }

  /** A string from its opening quote: escapes, well-formed UTF-8, no raw control characters. */
  private string(): string | undefined {
    const { bytes } = this;
    const length = bytes.length;
    const start = this.i;
    let i = start + 1;
    let stored = 2;
    for (;;) {
      if (i >= length) {
        this.i = i;
        return `is not valid JSON: the string at byte ${start} is not closed`;
      }
      const code = bytes[i]!;
      if (code === QUOTE) break;
      if (code < 0x20) {
        this.i = i;
        return `is not valid JSON: ${describeByte(code)} (a control character) inside the string at byte ${start}; JSON requires it escaped`;
      }
      if (code < 0x80) {
        if (code !== BACKSLASH) {
          stored += 1;
          i++;
          continue;
        }
        this.escapes = true;
        const escaped = bytes[i + 1];
        if (escaped !== LOWER_U) {
          const escapedStored = escaped === undefined || escaped >= 128 ? 0 : SIMPLE_ESCAPE_STORED[escaped]!;
          if (escapedStored === 0) {
            this.i = i;
            return `is not valid JSON: ${describeByte(escaped)} cannot follow '\\' (at byte ${i})`;
          }
          stored += escapedStored;
          i += 2;
          continue;
        }
        const unit = hex4(bytes, i + 2);
        if (unit < 0) {
          this.i = i;
          return `is not valid JSON: '\\u' must be followed by four hex digits (at byte ${i})`;
        }
        if (unit === 0) return JSON_NUL_REASON;
        if (unit >= 0xdc00 && unit <= 0xdfff) return JSON_SURROGATE_REASON;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = bytes[i + 6] === BACKSLASH && bytes[i + 7] === LOWER_U ? hex4(bytes, i + 8) : -1;
          if (!(low >= 0xdc00 && low <= 0xdfff)) return JSON_SURROGATE_REASON;
          stored += 4;
          i += 12;
          continue;
        }
        // Control characters stay escaped (at most 6); others become themselves.
        stored += unit < 0x20 ? 6 : unit === QUOTE || unit === BACKSLASH ? 2 : unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
        i += 6;
        continue;
      }
      const sequence = utf8SequenceLength(bytes, i, length);
      if (sequence === 0) {
        this.malformedUtf8 = true;
        return MALFORMED_UTF8_REASON;
      }
      stored += sequence;
      i += sequence;
    }
    this.i = i + 1;
    this.stored += stored;
    return undefined;
  }

  /** A number by JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, then its stored length or why it cannot be stored. */
  private number(): string | undefined {
    const { bytes } = this;
    const start = this.i;
    let i = start;
    let exponent = false;
    if (bytes[i] === MINUS) i++;
    if (bytes[i] === ZERO) i++;
    else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++;
    else return this.unexpectedAt(i, 'in a number');
    if (bytes[i] === DOT) {
      i++;
      if (!isDigit(bytes[i])) return this.unexpectedAt(i, "after a number's '.'");
      while (isDigit(bytes[i])) i++;
    }
    if (bytes[i] === LOWER_E || bytes[i] === UPPER_E) {
      exponent = true;
      i++;
      if (bytes[i] === PLUS || bytes[i] === MINUS) i++;
      if (!isDigit(bytes[i])) return this.unexpectedAt(i, "in a number's exponent");
      while (isDigit(bytes[i])) i++;
    }
    this.i = i;
    if (!exponent && i - start < PLAIN_NUMBER_MAX_LENGTH) {
      this.stored += i - start;
      return undefined;
    }
    // Rare: an exponent or a very long number. The token is ASCII.
    const stored = storedNumberLength(latin1(bytes, start, i));
    if (typeof stored === 'string') return stored;
    this.stored += stored;
    return undefined;
  }

  private unexpected(where?: string): string {
    return this.unexpectedAt(this.i, where);
  }

  private unexpectedAt(at: number, where?: string): string {
    return `is not valid JSON: unexpected ${describeByte(this.bytes[at])} at byte ${at}${where === undefined ? '' : ` ${where}`}`;
  }
}

function isDigit(code: number | undefined): boolean {
  return code !== undefined && code >= ZERO && code <= NINE;
}

/** Four hex digits at `at` as a number, or -1. */
function hex4(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let k = 0; k < 4; k++) {
    const code = bytes[at + k];
    if (code === undefined) return -1;
    const digit = code >= ZERO && code <= NINE ? code - ZERO : code >= 0x61 && code <= 0x66 ? code - 0x57 : code >= 0x41 && code <= 0x46 ? code - 0x37 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = '';
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}
