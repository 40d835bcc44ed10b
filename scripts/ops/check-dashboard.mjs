#!/usr/bin/env node
/**
 * Checks the Grafana dashboards in deploy/grafana/dashboards without a Grafana:
 * - each file parses, has a uid, a title and a schemaVersion;
 * - panel ids are unique and panels fit the 24-column grid without overlapping;
 * - the rows docs/operations.md describes exist;
 * - every panel other than a row uses the provisioned Prometheus datasource
 *   (by uid, no ${DS_...} import placeholders) and has targets with a
 *   distinct refId and an expression;
 * - every expression, variable query and legend uses only metrics, labels,
 *   label values and variables that exist (see metric-catalog.mjs);
 * - every metric the server exports appears in some panel;
 * - the dashboards provider reads the folder docker-compose.yml mounts them in.
 * Usage: node scripts/ops/check-dashboard.mjs
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalog } from './metric-catalog.mjs';
import { checkPromql, collectNames } from './promql-names.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const grafana = 'deploy/grafana';
const REQUIRED_ROWS = ['Ingest', 'Query', 'Rate limiting & auth', 'Database', 'Process'];
const GRID_COLUMNS = 24;

/** The uid of the provisioned datasource of a type, from the provisioning file. */
function provisionedUid(type) {
  const text = readFileSync(join(root, grafana, 'provisioning/datasources/prometheus.yml'), 'utf8');
  for (const item of text.split(/^\s*- name:/m).slice(1)) {
    if (new RegExp(`^\\s*type:\\s*${type}\\s*$`, 'm').test(item)) return /^\s*uid:\s*(\S+)/m.exec(item)?.[1];
  }
  return undefined;
}

/** Every panel, rows' nested panels included. */
function flattenPanels(panels) {
  return panels.flatMap((panel) => [panel, ...flattenPanels(panel.panels ?? [])]);
}

/** Labels a legend format refers to ({{label}}). */
function legendLabels(format) {
  return [...(format ?? '').matchAll(/\{\{\s*([\w]+)\s*\}\}/g)].map((match) => match[1]);
}

/**
 * @param {object} dashboard the parsed JSON
 * @param {import('./metric-catalog.mjs').Catalog} catalog
 * @param {string} datasourceUid
 * @returns {{ problems: string[], metrics: Set<string> }} problems, and the metric families used
 */
export function checkDashboard(dashboard, catalog, datasourceUid) {
  const problems = [];
  const used = new Set();
  for (const key of ['uid', 'title']) {
    if (typeof dashboard[key] !== 'string' || dashboard[key] === '') problems.push(`no ${key}`);
  }
  if (!Number.isInteger(dashboard.schemaVersion) || dashboard.schemaVersion < 36) {
    problems.push(`schemaVersion ${dashboard.schemaVersion} is missing or older than 36 (Grafana 9)`);
  }
  if (!Array.isArray(dashboard.panels) || dashboard.panels.length === 0) return { problems: [...problems, 'no panels'], metrics: used };

  const variables = new Set((dashboard.templating?.list ?? []).map((variable) => variable.name));
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    const inner = /^label_values\((.+),\s*(\w+)\s*\)$/.exec(query ?? '');
    if (!inner) {
      problems.push(`variable ${variable.name}: query "${query}" is not label_values(<selector>, <label>)`);
      continue;
    }
    const { problems: found, labels } = checkPromql(inner[1], catalog, { variables });
    problems.push(...found.map((problem) => `variable ${variable.name}: ${problem}`));
    if (!labels.has(inner[2])) problems.push(`variable ${variable.name}: the selector's series have no label ${inner[2]}`);
    if (variable.datasource?.uid !== datasourceUid) problems.push(`variable ${variable.name}: datasource uid is not "${datasourceUid}"`);
  }

  const panels = flattenPanels(dashboard.panels);
  const ids = new Set();
  const placed = [];
  for (const panel of panels) {
    const name = `panel ${panel.id} "${panel.title ?? ''}"`;
    if (!Number.isInteger(panel.id)) problems.push(`${name}: id is not an integer`);
    else if (ids.has(panel.id)) problems.push(`${name}: id used twice`);
    ids.add(panel.id);

    const grid = panel.gridPos;
    if (!grid || ![grid.x, grid.y, grid.w, grid.h].every(Number.isInteger)) {
      problems.push(`${name}: gridPos needs integer x, y, w, h`);
    } else if (grid.x < 0 || grid.w < 1 || grid.x + grid.w > GRID_COLUMNS) {
      problems.push(`${name}: gridPos is outside the ${GRID_COLUMNS} columns`);
    } else {
      const overlap = placed.find((other) => grid.x < other.grid.x + other.grid.w && other.grid.x < grid.x + grid.w
        && grid.y < other.grid.y + other.grid.h && other.grid.y < grid.y + grid.h);
      if (overlap) problems.push(`${name}: overlaps ${overlap.name}`);
      placed.push({ name, grid });
    }

    if (panel.type === 'row') continue;
    if (!panel.title) problems.push(`${name}: no title`);
    if (panel.datasource?.uid !== datasourceUid) {
      problems.push(`${name}: datasource ${JSON.stringify(panel.datasource)} is not the provisioned uid "${datasourceUid}"`);
    }
    const targets = panel.targets ?? [];
    if (targets.length === 0) problems.push(`${name}: no targets`);
    const refIds = new Set();
    for (const target of targets) {
      const where = `${name} target ${target.refId ?? '?'}`;
      if (!target.refId || refIds.has(target.refId)) problems.push(`${where}: refId missing or used twice`);
      refIds.add(target.refId);
      if (target.datasource && target.datasource.uid !== datasourceUid) problems.push(`${where}: datasource uid is not "${datasourceUid}"`);
      if (typeof target.expr !== 'string' || target.expr.trim() === '') {
        problems.push(`${where}: no expr`);
        continue;
      }
      const { problems: found, labels } = checkPromql(target.expr, catalog, { variables });
      problems.push(...found.map((problem) => `${where}: ${problem}`));
      for (const label of legendLabels(target.legendFormat)) {
        if (!labels.has(label)) problems.push(`${where}: legend uses {{${label}}}, which the series do not have`);
      }
      for (const metric of collectNames(target.expr).metrics) used.add(metric.replace(/_(bucket|sum|count)$/, ''));
    }
  }

  const rows = new Set(panels.filter((panel) => panel.type === 'row').map((panel) => panel.title));
  for (const row of REQUIRED_ROWS) if (!rows.has(row)) problems.push(`no row "${row}"`);
  return { problems, metrics: used };
}

/** Whether docker-compose.yml mounts deploy/grafana/dashboards where the provider reads. */
function checkProvisioningPath() {
  const provider = readFileSync(join(root, grafana, 'provisioning/dashboards/dashboards.yml'), 'utf8');
  const path = /^\s*path:\s*(\S+)/m.exec(provider)?.[1];
  const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
  const mounted = new RegExp(`^\\s*-\\s*['"]?\\./${grafana}/dashboards:${path}(:ro)?['"]?\\s*$`, 'm').test(compose);
  return mounted ? [] : [`docker-compose.yml does not mount ./${grafana}/dashboards at ${path}, the provider's path`];
}

async function main() {
  const catalog = await loadCatalog(root);
  const datasourceUid = provisionedUid('prometheus');
  const problems = datasourceUid ? checkProvisioningPath() : ['no provisioned prometheus datasource with a uid'];
  const dir = join(grafana, 'dashboards');
  const files = readdirSync(join(root, dir)).filter((name) => name.endsWith('.json'));
  if (files.length === 0) problems.push(`${dir}: no dashboards`);
  const used = new Set();
  let panelCount = 0;
  for (const file of files) {
    let dashboard;
    try {
      dashboard = JSON.parse(readFileSync(join(root, dir, file), 'utf8'));
    } catch (error) {
      problems.push(`${dir}/${file}: not JSON: ${error.message}`);
      continue;
    }
    const result = checkDashboard(dashboard, catalog, datasourceUid);
    problems.push(...result.problems.map((problem) => `${dir}/${file}: ${problem}`));
    for (const metric of result.metrics) used.add(metric);
    panelCount += flattenPanels(dashboard.panels ?? []).filter((panel) => panel.type !== 'row').length;
  }
  for (const metric of catalog.appMetrics) {
    if (!used.has(metric)) problems.push(`${dir}: no panel shows ${metric}`);
  }

  if (problems.length > 0) {
    console.error(problems.join('\n'));
    console.error(`${problems.length} problem(s) in the Grafana dashboards`);
    process.exit(1);
  }
  console.log(`${files.length} dashboard(s), ${panelCount} panels: datasource "${datasourceUid}", metric, label and variable names, layout, every server metric shown`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
