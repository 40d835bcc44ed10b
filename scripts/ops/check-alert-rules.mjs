#!/usr/bin/env node
/**
 * Checks deploy/prometheus/alerts.yml beyond what promtool does:
 * - every expression uses only metrics, labels and label values the server
 *   exports (see metric-catalog.mjs);
 * - every alert has a `for`, a severity of critical or warning, a summary, a
 *   description and a runbook_url, `<file>.md#<anchor>` relative to the
 *   repository root, whose file and heading exist (docs/operations.md);
 * - every alert has a case in alerts.test.yml where it fires and one where
 *   it does not.
 * The YAML is read line by line: it expects the layout of these two files
 * (`- alert:` items, block or one-line `expr:`; `- eval_time:` items).
 * Usage: node scripts/ops/check-alert-rules.mjs
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalog } from './metric-catalog.mjs';
import { checkPromql } from './promql-names.mjs';
import { markdownAnchors } from './markdown-anchors.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const rulesFile = 'deploy/prometheus/alerts.yml';
const testsFile = 'deploy/prometheus/alerts.test.yml';

/** The alerts of a rules file: name, line, and the scalar fields the checks need. */
export function readAlerts(text) {
  const lines = text.split('\n');
  const alerts = [];
  for (let i = 0; i < lines.length; i += 1) {
    const start = /^(\s*)- alert:\s*(\S+)\s*$/.exec(lines[i]);
    if (!start) continue;
    const itemIndent = start[1].length;
    const alert = { name: start[2], line: i + 1, fields: {} };
    let j = i + 1;
    for (; j < lines.length; j += 1) {
      const line = lines[j];
      if (line.trim() === '' || line.trim().startsWith('#')) continue;
      if (indentOf(line) <= itemIndent) break;
      const field = /^(\s*)(expr|for|severity|summary|description|runbook_url):\s*(.*)$/.exec(line);
      if (!field) continue;
      const [, indent, key, rest] = field;
      if (/^[|>][-+]?$/.test(rest.trim())) {
        const block = [];
        while (j + 1 < lines.length && (lines[j + 1].trim() === '' || indentOf(lines[j + 1]) > indent.length)) {
          j += 1;
          block.push(lines[j].trim());
        }
        alert.fields[key] = block.join('\n').trim();
      } else {
        alert.fields[key] = unquote(rest.trim());
      }
    }
    alerts.push(alert);
    i = j - 1;
  }
  return alerts;
}

/** alertname -> { firing, quiet }: counts of test cases expecting alerts and expecting none. */
export function readTestCases(text) {
  const cases = new Map();
  const items = text.split(/^\s*- eval_time:.*$/m).slice(1);
  for (const item of items) {
    const body = item.split(/^\s*- (?:name|interval):/m)[0];
    const name = /^\s*alertname:\s*(\S+)/m.exec(body)?.[1];
    if (!name) continue;
    const entry = cases.get(name) ?? { firing: 0, quiet: 0 };
    if (/^\s*exp_alerts:\s*$/m.test(body) && /exp_labels:/.test(body)) entry.firing += 1;
    else entry.quiet += 1;
    cases.set(name, entry);
  }
  return cases;
}

function indentOf(line) {
  return line.length - line.trimStart().length;
}

function unquote(value) {
  if (value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1).replaceAll("''", "'");
  if (value.startsWith('"') && value.endsWith('"')) return JSON.parse(value);
  return value;
}

async function main() {
  const catalog = await loadCatalog(root);
  const alerts = readAlerts(readFileSync(join(root, rulesFile), 'utf8'));
  const cases = readTestCases(readFileSync(join(root, testsFile), 'utf8'));
  const anchorsOf = new Map();
  const anchorsIn = (file) => {
    if (!anchorsOf.has(file)) anchorsOf.set(file, existsSync(join(root, file)) ? markdownAnchors(readFileSync(join(root, file), 'utf8')) : undefined);
    return anchorsOf.get(file);
  };
  const problems = [];
  const report = (alert, message) => problems.push(`${rulesFile}:${alert.line} ${alert.name}: ${message}`);

  if (alerts.length === 0) problems.push(`${rulesFile}: no alerts found`);
  const seen = new Set();
  for (const alert of alerts) {
    const { expr, severity, summary, description, runbook_url: runbook } = alert.fields;
    if (seen.has(alert.name)) report(alert, 'defined twice');
    seen.add(alert.name);
    if (!expr) report(alert, 'no expr');
    else for (const problem of checkPromql(expr, catalog).problems) report(alert, problem);
    if (!alert.fields.for) report(alert, 'no `for:` duration');
    if (!['critical', 'warning'].includes(severity)) report(alert, `severity is "${severity ?? ''}", not critical or warning`);
    if (!summary) report(alert, 'no summary annotation');
    if (!description) report(alert, 'no description annotation');
    const [, file, anchor] = /^([\w./-]+\.md)#([\w-]+)$/.exec(runbook ?? '') ?? [];
    if (!file || !anchor) report(alert, `runbook_url "${runbook ?? ''}" is not <file>.md#<anchor>`);
    else if (!anchorsIn(file)) report(alert, `runbook_url file ${file} does not exist`);
    else if (!anchorsIn(file).has(anchor)) report(alert, `runbook_url anchor #${anchor} is not a heading of ${file}`);
    const tested = cases.get(alert.name);
    if (!tested?.firing) report(alert, `${testsFile} has no case where it fires`);
    if (!tested?.quiet) report(alert, `${testsFile} has no case where it stays quiet`);
  }
  for (const name of cases.keys()) {
    if (!seen.has(name)) problems.push(`${testsFile}: tests ${name}, which ${rulesFile} does not define`);
  }

  if (problems.length > 0) {
    console.error(problems.join('\n'));
    console.error(`${problems.length} problem(s) in the alert rules`);
    process.exit(1);
  }
  console.log(`${alerts.length} alerts: names known to the metrics registry, severity, annotations, runbooks that exist, firing and quiet test cases`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
