/**
 * What the alert and dashboard checks compare PromQL against, taken from the
 * sources of truth rather than a hand-kept list: the metrics registry the
 * server creates (built to dist/ by `npm run build`; `npm ci` builds it), the
 * services and methods of proto/telemetry/v1, the gRPC status code names of
 * @grpc/grpc-js, the scrape jobs of deploy/prometheus/prometheus.yml and the
 * alerts of deploy/prometheus/alerts.yml. Label values only known at run time
 * (results, pool states, operations... and the ALERTS series' severity and
 * state) are listed here.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * @typedef {object} Catalog
 * @property {Map<string, Set<string>>} series every series name a query may use, with its labels (instance and job aside)
 * @property {Map<string, Set<string>>} labelValues the known values of labels whose values are bounded
 * @property {Set<string>} appMetrics the server's own metric families (not prom-client's defaults)
 */

/** Label values set at run time: by the server (see src/observability/create-metrics.ts), or by Prometheus on ALERTS. */
const RUNTIME_LABEL_VALUES = {
  result: ['accepted', 'duplicate', 'rejected'],
  bucket: ['calls', 'events'],
  outcome: ['unauthenticated', 'throttled', 'stored', 'duplicate', 'rejected'],
  signal: ['logs', 'traces', 'metrics'],
  transport: ['grpc', 'http'],
  operation: ['ingest_flush', 'read_page', 'aggregate', 'auth_lookup'],
  state: ['max', 'total', 'idle', 'waiting', 'in_use'],
  how: ['dropped', 'deleted'],
  severity: ['critical', 'warning'],
  alertstate: ['pending', 'firing'],
};

/** Series every Prometheus adds on its own, with their labels. */
const PROMETHEUS_SERIES = {
  up: [],
  scrape_duration_seconds: [],
  scrape_samples_scraped: [],
};

/**
 * @param {string} root the repository root
 * @returns {Promise<Catalog>}
 */
export async function loadCatalog(root) {
  const require = createRequire(join(root, 'package.json'));
  const compiled = join(root, 'dist/observability/create-metrics.js');
  if (!existsSync(compiled)) {
    throw new Error(`${compiled} is missing: run "npm run build" first`);
  }
  const { createMetrics } = require(compiled);
  const { status } = require('@grpc/grpc-js');

  /** @type {Map<string, Set<string>>} */
  const series = new Map();
  const appMetrics = new Set();
  // The tenant label exists only with METRICS_TENANT_LABEL=true; a query may use it.
  const metrics = createMetrics({ maxLabelValues: 10, tenantLabel: true });
  // The gauges read at scrape time are registered where their sources are
  // wired (src/features/platform.ts); register them here on idle sources.
  const gauges = require(join(root, 'dist/observability/collected-gauges.js'));
  const idlePool = { options: { max: 0 }, totalCount: 0, idleCount: 0, waitingCount: 0 };
  gauges.registerPoolGauge(metrics.registry, Object.fromEntries(gauges.DB_POOL_NAMES.map((name) => [name, idlePool])));
  gauges.registerReadShareGauge(metrics.registry, { slots: 0, inUse: 0, waitingCount: 0 });
  gauges.registerDatabaseUpGauge(metrics.registry, Object.fromEntries(gauges.DATABASE_NAMES.map((name) => [name, () => true])));
  gauges.registerActiveTenantsGauge(metrics.registry, async () => undefined, { warn() {} });
  gauges.registerReceiveBudgetGauge(metrics.registry, () => 0);
  gauges.registerResponseBudgetGauge(metrics.registry, () => 0);
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const labels = new Set(metric.labelNames);
    if (metric.constructor.name === 'Histogram') {
      series.set(`${metric.name}_bucket`, new Set([...labels, 'le']));
      series.set(`${metric.name}_sum`, labels);
      series.set(`${metric.name}_count`, labels);
    } else {
      series.set(metric.name, labels);
    }
    if (!/^(process|nodejs)_/.test(metric.name)) appMetrics.add(metric.name);
  }
  for (const [name, labels] of Object.entries(PROMETHEUS_SERIES)) series.set(name, new Set(labels));

  // An alert's series keep its expression's labels; without evaluating every
  // expression, any label of the server's metrics may be among them.
  const appLabels = [...appMetrics].flatMap((name) => [...(series.get(name) ?? series.get(`${name}_bucket`) ?? [])]);
  series.set('ALERTS', new Set(['alertname', 'alertstate', 'severity', ...appLabels]));

  const { services, methods } = readProtoServices(join(root, 'proto/telemetry/v1'));
  const labelValues = new Map(Object.entries(RUNTIME_LABEL_VALUES).map(([label, values]) => [label, new Set(values)]));
  labelValues.set('pool', new Set(gauges.DB_POOL_NAMES));
  labelValues.set('database', new Set(gauges.DATABASE_NAMES));
  labelValues.set('grpc_code', new Set(Object.keys(status).filter((name) => Number.isNaN(Number(name)))));
  labelValues.set('grpc_service', services);
  labelValues.set('grpc_method', methods);
  labelValues.set('job', readScrapeJobs(join(root, 'deploy/prometheus/prometheus.yml')));
  labelValues.set('alertname', readAlertNames(join(root, 'deploy/prometheus/alerts.yml')));

  return { series, labelValues, appMetrics };
}

/** Fully qualified service names and method names of the .proto files in a folder. */
function readProtoServices(dir) {
  const services = new Set();
  const methods = new Set();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.proto'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    const pkg = /^package\s+([\w.]+);/m.exec(text)?.[1];
    for (const match of text.matchAll(/^service\s+(\w+)/gm)) services.add(pkg ? `${pkg}.${match[1]}` : match[1]);
    for (const match of text.matchAll(/^\s*rpc\s+(\w+)\s*\(/gm)) methods.add(match[1]);
  }
  return { services, methods };
}

/** The job_name values of a Prometheus configuration. */
function readScrapeJobs(file) {
  return new Set([...readFileSync(file, 'utf8').matchAll(/^\s*-?\s*job_name:\s*['"]?([\w-]+)/gm)].map((match) => match[1]));
}

/** The alert names of a rules file. */
function readAlertNames(file) {
  return new Set([...readFileSync(file, 'utf8').matchAll(/^\s*-\s*alert:\s*(\w+)/gm)].map((match) => match[1]));
}
