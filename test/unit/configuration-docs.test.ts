import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EnvReader, type EnvVariableKind, type EnvVariableRead } from '../../src/config/env-reader';
import { loadConfig } from '../../src/config/load-config';
import { parseByteSize } from '../../src/config/parse-byte-size';
import { parseDuration } from '../../src/config/parse-duration';

const root = path.resolve(__dirname, '../..');
const configurationDoc = path.join(root, 'docs/configuration.md');

/**
 * Variables of the table that the OpenTelemetry SDK reads itself
 * (src/observability/start-tracing.ts hands it the environment), not
 * loadConfig. Once loadConfig reads one of them, it leaves this list.
 */
/** OTEL_* variables only the SDK reads (loadConfig reads those that decide whether tracing starts). */
const READ_BY_THE_OPENTELEMETRY_SDK = ['OTEL_RESOURCE_ATTRIBUTES', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG'];

interface TableRow {
  readonly name: string;
  readonly defaultText: string;
  readonly line: number;
}

/** The rows of the variables table: `| `NAME` | default | meaning |` (group rows have no variable). */
function tableRows(markdown: string): TableRow[] {
  const rows: TableRow[] = [];
  markdown.split('\n').forEach((text, index) => {
    const cells = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|/.exec(text);
    if (cells) rows.push({ name: cells[1]!, defaultText: cells[2]!.trim().replace(/`/g, ''), line: index + 1 });
  });
  return rows;
}

/** Every variable loadConfig reads when nothing is set (a read that depends on another variable being set would be missed). */
function variablesLoadConfigReads(): EnvVariableRead[] {
  const reader = new EnvReader({});
  loadConfig({}, root, reader);
  return [...reader.variables()];
}

/**
 * A default as a comparable value, so that `64KiB` equals `65536`, `10m`
 * equals `600s` and `20 000` equals `20000`; undefined when `text` is not a
 * value of that kind. `unset` is no default.
 */
function normalise(kind: EnvVariableKind, text: string): string | number | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact === 'unset') return 'unset';
  switch (kind) {
    case 'integer':
      return /^-?\d+$/.test(compact) ? Number(compact) : undefined;
    case 'duration':
      return parseDuration(compact.replace(/min$/, 'm').replace(/sec$/, 's'));
    case 'size':
      return parseByteSize(compact);
    case 'boolean':
      return ['true', 'false'].includes(compact.toLowerCase()) ? compact.toLowerCase() : undefined;
    case 'string':
    case 'choice':
    case 'url':
      return text.trim();
  }
}

describe('docs/configuration.md against loadConfig', () => {
  const read = variablesLoadConfigReads();
  const readByName = new Map(read.map((variable) => [variable.name, variable]));
  const rows = tableRows(readFileSync(configurationDoc, 'utf8'));
  const rowByName = new Map(rows.map((row) => [row.name, row]));

  /** A row's default, with a default that names another variable (`DB_POOL_MAX`) taken as that variable's. */
  const documentedDefault = (variable: EnvVariableRead, row: TableRow): string | number | undefined => {
    const other = readByName.get(row.defaultText);
    return normalise(variable.kind, other && other.name !== variable.name ? other.defaultText : row.defaultText);
  };

  test('when the table is parsed, then it has rows and names each variable once', () => {
    expect(rows.length).toBeGreaterThan(40);
    const repeated = rows.filter((row, index) => rows.findIndex((other) => other.name === row.name) !== index);
    expect(repeated.map((row) => `${row.name} (line ${row.line})`)).toEqual([]);
  });

  test('when loadConfig reads a variable, then the table lists it with the same default', () => {
    const problems: string[] = [];
    for (const variable of read) {
      const row = rowByName.get(variable.name);
      if (row === undefined) {
        problems.push(`${variable.name}: read by loadConfig (default ${variable.defaultText}) but not in docs/configuration.md`);
      } else if (documentedDefault(variable, row) !== normalise(variable.kind, variable.defaultText)) {
        problems.push(`${variable.name}: docs/configuration.md:${row.line} says the default is "${row.defaultText}", loadConfig uses ${variable.defaultText}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('when the table lists a variable, then loadConfig reads it (or the OpenTelemetry SDK does)', () => {
    const unread = rows.filter((row) => !readByName.has(row.name) && !READ_BY_THE_OPENTELEMETRY_SDK.includes(row.name));
    expect(unread.map((row) => `${row.name} (docs/configuration.md:${row.line}) is not read by loadConfig`)).toEqual([]);
  });

  test("when a variable is listed as the OpenTelemetry SDK's, then it is in the table and loadConfig does not read it", () => {
    const stale = READ_BY_THE_OPENTELEMETRY_SDK.filter((name) => !rowByName.has(name) || readByName.has(name));
    expect(stale.map((name) => `${name}: ${readByName.has(name) ? 'loadConfig reads it now: drop it from READ_BY_THE_OPENTELEMETRY_SDK' : 'not in docs/configuration.md'}`)).toEqual([]);
  });

  test('when any doc gives a default in parentheses after a variable, then it is the default loadConfig uses', () => {
    const docs = ['README.md', 'CONTRIBUTING.md', ...readdirSync(path.join(root, 'docs')).filter((file) => file.endsWith('.md')).map((file) => `docs/${file}`)];
    const problems: string[] = [];
    let checked = 0;
    for (const doc of docs) {
      // Prose wraps: a variable and its "(60 s)" may sit on two lines.
      const text = readFileSync(path.join(root, doc), 'utf8').replace(/\s+/g, ' ');
      for (const match of text.matchAll(/`([A-Z][A-Z0-9_]+)` \((?:default )?`?([^,;)`]+)`?[,;)]/g)) {
        const variable = readByName.get(match[1]!);
        const value = /^(\d[\d ]*(?:\.\d+)? ?[A-Za-z]*)(?: by default)?$/.exec(match[2]!.trim())?.[1];
        if (variable === undefined || value === undefined || !['integer', 'duration', 'size'].includes(variable.kind)) continue;
        const documented = normalise(variable.kind, value);
        if (documented === undefined) continue;
        checked += 1;
        if (documented !== normalise(variable.kind, variable.defaultText)) {
          problems.push(`${doc}: "${match[0]}" but the default is ${variable.defaultText}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });
});

describe('EnvReader.variables', () => {
  test('when variables are read, then each is listed once, first way asked, with its default as the docs write it', () => {
    const reader = new EnvReader({ SET: '5' });
    reader.durationMs('A_TIMEOUT', 30_000);
    reader.bytes('A_SIZE', 64 * 1024);
    reader.bytes('AN_ODD_SIZE', 1000);
    reader.integer('SET', 3);
    reader.raw('SET');
    reader.boolean('A_FLAG', false);
    reader.oneOf('A_LEVEL', ['info', 'debug'], 'info');
    reader.url('A_URL', ['redis:']);
    reader.optionalString('A_NAME');
    reader.string('A_DIR', './.data');
    expect(reader.variables()).toEqual([
      { name: 'A_TIMEOUT', kind: 'duration', defaultText: '30s' },
      { name: 'A_SIZE', kind: 'size', defaultText: '64KiB' },
      { name: 'AN_ODD_SIZE', kind: 'size', defaultText: '1000' },
      { name: 'SET', kind: 'integer', defaultText: '3' },
      { name: 'A_FLAG', kind: 'boolean', defaultText: 'false' },
      { name: 'A_LEVEL', kind: 'choice', defaultText: 'info' },
      { name: 'A_URL', kind: 'url', defaultText: 'unset' },
      { name: 'A_NAME', kind: 'string', defaultText: 'unset' },
      { name: 'A_DIR', kind: 'string', defaultText: './.data' },
    ]);
  });
});
