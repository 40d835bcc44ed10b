/**
 * Finds the names a PromQL expression uses — metrics, label matchers,
 * grouping labels, functions, Grafana variables — with a small lexer. It does
 * not validate the syntax (promtool and Prometheus do that); it exists so that
 * a misspelt metric, label or label value fails a check instead of drawing an
 * empty panel or an alert that can never fire.
 */

/** A Grafana variable: `${name}`, `${name:format}`, `$name` or `[[name]]`. */
const VARIABLE = /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g;
const GROUPING_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const OTHER_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);

/** PromQL functions and aggregation operators (Prometheus 2.x). */
export const PROMQL_FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'avg', 'avg_over_time',
  'bottomk', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'cos', 'cosh', 'count', 'count_over_time',
  'count_values', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg', 'delta', 'deriv', 'exp',
  'floor', 'group', 'histogram_avg', 'histogram_count', 'histogram_fraction', 'histogram_quantile', 'histogram_stddev',
  'histogram_stdvar', 'histogram_sum', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join',
  'label_replace', 'last_over_time', 'ln', 'log10', 'log2', 'mad_over_time', 'max', 'max_over_time', 'min',
  'min_over_time', 'minute', 'month', 'pi', 'predict_linear', 'present_over_time', 'quantile', 'quantile_over_time',
  'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_desc', 'sqrt', 'stddev',
  'stddev_over_time', 'stdvar', 'stdvar_over_time', 'sum', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp',
  'topk', 'vector', 'year',
]);

/**
 * Splits an expression into tokens: identifiers, strings (unescaped),
 * numbers and durations, Grafana variables, and single punctuation or
 * operator characters.
 */
export function tokenize(expr) {
  const tokens = [];
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i];
    if (/\s/.test(ch)) {
      i += 1;
    } else if (ch === '#') {
      while (i < expr.length && expr[i] !== '\n') i += 1;
    } else if (ch === '"' || ch === "'" || ch === '`') {
      let value = '';
      let j = i + 1;
      while (j < expr.length && expr[j] !== ch) {
        if (ch !== '`' && expr[j] === '\\' && j + 1 < expr.length) {
          j += 1;
          value += { n: '\n', t: '\t' }[expr[j]] ?? (/[\\"'`]/.test(expr[j]) ? expr[j] : `\\${expr[j]}`);
        } else {
          value += expr[j];
        }
        j += 1;
      }
      if (j >= expr.length) throw new Error(`unterminated string at offset ${i}`);
      tokens.push({ type: 'string', value });
      i = j + 1;
    } else if (ch === '$' || expr.startsWith('[[', i)) {
      const match = new RegExp(`^${VARIABLE.source}`).exec(expr.slice(i));
      if (!match) throw new Error(`bad variable at offset ${i}`);
      tokens.push({ type: 'variable', value: match[1] ?? match[2] ?? match[3] });
      i += match[0].length;
    } else if (/[0-9.]/.test(ch)) {
      const match = /^[0-9.][0-9a-zA-Z_.]*(?:[eE][+-]?[0-9]+)?/.exec(expr.slice(i));
      tokens.push({ type: 'number', value: match[0] });
      i += match[0].length;
    } else if (/[a-zA-Z_:]/.test(ch)) {
      const match = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i));
      tokens.push({ type: 'ident', value: match[0] });
      i += match[0].length;
    } else {
      const match = /^(?:=~|!~|!=|==|>=|<=)/.exec(expr.slice(i));
      const value = match ? match[0] : ch;
      tokens.push({ type: 'punct', value });
      i += value.length;
    }
  }
  return tokens;
}

/**
 * The names used by an expression:
 * metrics (selector names), matchers ({label, op, value} in braces),
 * grouping (labels of by/without/on/ignoring/group_*), functions,
 * variables (Grafana `$name`, including `$__...` built-ins).
 */
export function collectNames(expr) {
  const tokens = tokenize(expr);
  const names = { metrics: [], matchers: [], grouping: [], functions: [], variables: [] };
  let i = 0;
  const peek = (offset = 0) => tokens[i + offset];
  const isPunct = (token, value) => token?.type === 'punct' && token.value === value;

  const readMatchers = (metric) => {
    i += 1; // {
    while (i < tokens.length && !isPunct(peek(), '}')) {
      const label = peek();
      const op = peek(1);
      const value = peek(2);
      if (label?.type !== 'ident' || op?.type !== 'punct' || !['=', '!=', '=~', '!~'].includes(op.value)) {
        throw new Error(`cannot read the label matcher near "${label?.value ?? 'end'}"`);
      }
      if (value?.type === 'string') {
        // Grafana interpolates variables inside strings: such a value is only known at run time.
        const variables = [...value.value.matchAll(VARIABLE)].map((match) => match[1] ?? match[2] ?? match[3]);
        names.variables.push(...variables);
        names.matchers.push({ metric, label: label.value, op: op.value, value: variables.length ? undefined : value.value });
      } else {
        throw new Error(`label ${label.value} is not matched against a string`);
      }
      i += 3;
      if (isPunct(peek(), ',')) i += 1;
    }
    i += 1; // }
  };

  const readLabelList = () => {
    i += 1; // (
    while (i < tokens.length && !isPunct(peek(), ')')) {
      const token = peek();
      if (token.type === 'ident') names.grouping.push(token.value);
      else if (!isPunct(token, ',')) throw new Error(`unexpected "${token.value}" in a label list`);
      i += 1;
    }
    i += 1; // )
  };

  while (i < tokens.length) {
    const token = peek();
    if (token.type === 'variable') {
      names.variables.push(token.value);
      i += 1;
    } else if (isPunct(token, '[')) {
      // A range or subquery: durations and Grafana interval variables only.
      while (i < tokens.length && !isPunct(peek(), ']')) {
        if (peek().type === 'variable') names.variables.push(peek().value);
        i += 1;
      }
      i += 1;
    } else if (isPunct(token, '{')) {
      readMatchers(undefined);
    } else if (token.type === 'ident') {
      const next = peek(1);
      if (GROUPING_KEYWORDS.has(token.value)) {
        i += 1;
        if (isPunct(peek(), '(')) readLabelList();
      } else if (token.value === 'offset') {
        i += 2;
      } else if (OTHER_KEYWORDS.has(token.value)) {
        i += 1;
      } else if (isPunct(next, '(') || (PROMQL_FUNCTIONS.has(token.value) && next?.type === 'ident' && GROUPING_KEYWORDS.has(next.value))) {
        names.functions.push(token.value);
        i += 1;
      } else {
        names.metrics.push(token.value);
        i += 1;
        if (isPunct(peek(), '{')) readMatchers(token.value);
      }
    } else {
      i += 1;
    }
  }
  return names;
}

/** Labels every scraped series has, whatever its metric. */
const TARGET_LABELS = ['instance', 'job'];

/**
 * Problems with the names in one expression, against a catalog from
 * metric-catalog.mjs: unknown metrics, functions, labels and label values,
 * and variables the dashboard does not define.
 * @param {string} expr
 * @param {import('./metric-catalog.mjs').Catalog} catalog
 * @param {{ variables?: Set<string> }} [options] variables that may appear (dashboards)
 * @returns {{ problems: string[], labels: Set<string> }} problems, and the labels the expression's series may carry
 */
export function checkPromql(expr, catalog, options = {}) {
  let names;
  try {
    names = collectNames(expr);
  } catch (error) {
    return { problems: [`cannot read the expression: ${error.message}`], labels: new Set() };
  }
  const problems = [];
  const labels = new Set(TARGET_LABELS);
  const metricLabels = (metric) => catalog.series.get(metric);

  if (names.metrics.length === 0) problems.push('uses no metric');
  for (const metric of names.metrics) {
    const known = metricLabels(metric);
    if (!known) problems.push(`unknown metric ${metric}`);
    else for (const label of known) labels.add(label);
  }
  for (const fn of names.functions) {
    if (!PROMQL_FUNCTIONS.has(fn)) problems.push(`unknown function ${fn}`);
  }
  for (const { metric, label, op, value } of names.matchers) {
    const allowed = metric ? metricLabels(metric) : undefined;
    if (label === '__name__') continue;
    if (allowed && !allowed.has(label) && !TARGET_LABELS.includes(label)) {
      problems.push(`${metric} has no label ${label}`);
      continue;
    }
    if (!allowed && !labels.has(label)) problems.push(`no metric of the expression has a label ${label}`);
    const values = catalog.labelValues.get(label);
    if (value === undefined || !values) continue;
    const problem = checkMatcherValue(label, op, value, values);
    if (problem) problems.push(problem);
  }
  for (const label of names.grouping) {
    if (!labels.has(label)) problems.push(`groups by ${label}, which no metric of the expression has`);
  }
  for (const variable of names.variables) {
    if (variable.startsWith('__')) continue;
    if (!options.variables?.has(variable)) problems.push(`uses undefined variable $${variable}`);
  }
  return { problems, labels };
}

/** Whether a matcher can select one of a label's known values. */
function checkMatcherValue(label, op, value, values) {
  if (op === '=' || op === '!=') {
    return values.has(value) ? undefined : `${label}${op}"${value}": not a known value (${[...values].join(', ')})`;
  }
  // Each top-level alternative of a regular expression must match a known value,
  // so that one misspelt code in "A|B|C" is caught too.
  const alternatives = value.includes('(') ? [value] : value.split('|');
  for (const alternative of alternatives) {
    let regex;
    try {
      regex = new RegExp(`^(?:${alternative})$`);
    } catch {
      return `${label}${op}"${value}": not a regular expression JavaScript can read`;
    }
    if (![...values].some((known) => regex.test(known))) {
      return `${label}${op}"${value}": "${alternative}" matches no known value (${[...values].join(', ')})`;
    }
  }
  return undefined;
}
