import type { VaultEvent } from '@telemetry-vault/client';

const ANSI = { dim: '\x1b[2m', bold: '\x1b[1m', red: '\x1b[31m', yellow: '\x1b[33m', cyan: '\x1b[36m', reset: '\x1b[0m' } as const;

/**
 * One event as a JSON line (what `--json` prints): the contract's JSON field
 * names, times in RFC 3339, and the payload spliced in as the stored JSON
 * text, so that numbers past double precision stay exact.
 */
export function eventJsonLine(event: VaultEvent): string {
  return (
    `{"eventId":${JSON.stringify(event.eventId)},"timestamp":"${event.timestamp.toISOString()}",` +
    `"eventType":${JSON.stringify(event.eventType)},"serviceName":${JSON.stringify(event.serviceName)},` +
    `"receivedAt":${event.receivedAt ? `"${event.receivedAt.toISOString()}"` : 'null'},"payload":${compactJson(event.payloadJson)}}\n`
  );
}

/**
 * One event for people: time, type, service and the compact payload. Control
 * characters of the event's text are escaped, so that an event cannot drive
 * the terminal; `colour` adds ANSI colours (the type in red or yellow when the
 * payload's `level` or `severity_text` says error or warning).
 */
export function eventHumanLine(event: VaultEvent, colour: boolean): string {
  const time = event.timestamp.toISOString();
  const type = printable(event.eventType);
  const service = printable(event.serviceName);
  const payload = printable(compactJson(event.payloadJson));
  if (!colour) return `${time} ${type} ${service} ${payload}\n`;
  return `${ANSI.dim}${time}${ANSI.reset} ${severityColour(event)}${type}${ANSI.reset} ${ANSI.bold}${service}${ANSI.reset} ${payload}\n`;
}

/** JSON text without the whitespace between tokens (PostgreSQL's jsonb text has `": "` and `", "`). */
export function compactJson(text: string): string {
  let result = '';
  let inString = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      result += text.slice(from, i);
      from = i + 1;
    }
  }
  return from === 0 ? text : result + text.slice(from);
}

/** The text with its C0 and C1 control characters (ESC, CSI, ...) as \u escapes, safe to print on a terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function severityColour(event: VaultEvent): string {
  const level = event.payload.level ?? event.payload.severity_text;
  if (typeof level !== 'string') return ANSI.cyan;
  if (/^(fatal|crit|critical|alert|emerg|error|err)$/i.test(level)) return ANSI.red;
  if (/^warn(ing)?$/i.test(level)) return ANSI.yellow;
  return ANSI.cyan;
}
