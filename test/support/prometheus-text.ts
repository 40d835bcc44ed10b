/** One sample line of the Prometheus text format: `name{label="value",...} value`. */
export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A parsed /metrics scrape (Prometheus text exposition format 0.0.4): the
 * samples and each metric family's declared TYPE.
 */
export class PrometheusText {
  private constructor(
    readonly samples: readonly PrometheusSample[],
    readonly types: ReadonlyMap<string, string>,
  ) {}

  /** Parses the text; throws on a line that is neither a comment, blank, nor a well-formed sample. */
  static parse(text: string): PrometheusText {
    const samples: PrometheusSample[] = [];
    const types = new Map<string, string>();
    for (const [index, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      if (line.startsWith('#')) {
        const type = /^# TYPE (\S+) (\S+)$/.exec(line);
        if (type) types.set(type[1]!, type[2]!);
        continue;
      }
      samples.push(parseSample(line, index + 1));
    }
    return new PrometheusText(samples, types);
  }

  /** Samples named `name` whose labels include every one of `labels`. */
  matching(name: string, labels: Readonly<Record<string, string>> = {}): PrometheusSample[] {
    return this.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  }

  /**
   * The sum of the samples named `name` whose labels include `labels`; 0 when
   * there is none (a labelled counter that was never incremented is absent).
   */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number {
    return this.matching(name, labels).reduce((sum, sample) => sum + sample.value, 0);
  }

  /** The one sample named `name` with exactly these labels; throws when it is absent. */
  single(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const found = this.matching(name, labels).filter((sample) => Object.keys(sample.labels).length === Object.keys(labels).length);
    if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
    return found[0]!.value;
  }

  /** The distinct values label `label` takes on the samples named `name`. */
  labelValues(name: string, label: string): string[] {
    return [...new Set(this.matching(name).flatMap((sample) => (sample.labels[label] === undefined ? [] : [sample.labels[label]])))].sort();
  }
}

/** GET /metrics from the server's operations listener, parsed. */
export async function scrapeMetrics(httpUrl: string): Promise<PrometheusText> {
  const response = await fetch(`${httpUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  expectContentType(response.headers.get('content-type'));
  return PrometheusText.parse(await response.text());
}

function expectContentType(contentType: string | null): void {
  if (!contentType?.startsWith('text/plain')) throw new Error(`GET /metrics answered content-type ${String(contentType)}, not the Prometheus text format`);
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseSample(line: string, lineNumber: number): PrometheusSample {
  const fail = (why: string): never => {
    throw new Error(`/metrics line ${lineNumber}: ${why}: ${line}`);
  };
  const name = NAME.exec(line)?.[0] ?? fail('no metric name');
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    while (line[at] !== '}') {
      const label = LABEL_NAME.exec(line.slice(at))?.[0] ?? fail('bad label name');
      at += label.length;
      if (line.slice(at, at + 2) !== '="') fail(`label ${label} has no quoted value`);
      at += 2;
      let value = '';
      for (;;) {
        const char = line[at] ?? fail('unterminated label value');
        at++;
        if (char === '"') break;
        if (char !== '\\') {
          value += char;
          continue;
        }
        const escaped = line[at] ?? fail('unterminated escape');
        at++;
        value += escaped === 'n' ? '\n' : escaped;
      }
      labels[label] = value;
      if (line[at] === ',') at++;
      else if (line[at] !== '}') fail('expected , or } after a label');
    }
    at++;
  }
  const [valueText, timestamp, ...rest] = line.slice(at).trim().split(/\s+/);
  if (valueText === undefined || rest.length > 0 || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) fail('expected a value and an optional timestamp');
  return { name, labels, value: parseValue(valueText!) ?? fail(`bad value ${String(valueText)}`) };
}

/**
 * A sample value as Prometheus reads it (Go's ParseFloat): NaN and Inf in any
 * case (prom-client writes NaN as `Nan`).
 */
function parseValue(text: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special) return special[2]!.toLowerCase() === 'nan' ? Number.NaN : special[1] === '-' ? -Infinity : Infinity;
  const value = Number(text);
  return text.trim() === '' || Number.isNaN(value) ? undefined : value;
}
