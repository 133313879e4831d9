import type { CfnTemplate } from '../../local/packaged-service.ts';

/** A metric an alarm or a dashboard widget reads: namespace and metric name. */
export interface MetricReference {
  origin: string;
  namespace: string;
  metricName: string;
}

const INSIGHTS_METRIC = /\b(?:SUM|AVG|MIN|MAX|COUNT)\((\w+)\)/g;
const INSIGHTS_NAMESPACE = /\bFROM\s+(?:SCHEMA\()?"?([\w/]+)"?/;
const SEARCH_NAMESPACE = /^SEARCH\('\s*\{"?([\w/]+)"?[,}]/;
const SEARCH_METRIC = /MetricName="(\w+)"/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Metrics named by a Metrics Insights query (`SELECT SUM(X) FROM Ns ...`) or a SEARCH expression. */
export function metricsInExpression(origin: string, expression: string): MetricReference[] {
  if (expression.startsWith('SEARCH(')) {
    const namespace = SEARCH_NAMESPACE.exec(expression)?.[1];
    const metricName = SEARCH_METRIC.exec(expression)?.[1];
    if (namespace === undefined || metricName === undefined) throw new Error(`${origin}: SEARCH without a {Namespace,...} schema and MetricName: ${expression}`);
    return [{ origin, namespace, metricName }];
  }
  if (expression.startsWith('SELECT ')) {
    const namespace = INSIGHTS_NAMESPACE.exec(expression)?.[1];
    if (namespace === undefined) throw new Error(`${origin}: query without FROM: ${expression}`);
    const names = [...expression.matchAll(INSIGHTS_METRIC)].map((match) => match[1] ?? '');
    if (names.length === 0) throw new Error(`${origin}: query without an aggregated metric: ${expression}`);
    return names.map((metricName) => ({ origin, namespace, metricName }));
  }
  return []; // metric math over other ids (e.g. `a + b`)
}

/** Every metric the template's alarms read. */
export function alarmMetrics(template: CfnTemplate): MetricReference[] {
  const found: MetricReference[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::CloudWatch::Alarm') continue;
    const properties = resource.Properties ?? {};
    if (typeof properties.MetricName === 'string') {
      found.push({ origin: logicalId, namespace: String(properties.Namespace), metricName: properties.MetricName });
    }
    for (const query of Array.isArray(properties.Metrics) ? properties.Metrics : []) {
      if (!isRecord(query)) continue;
      if (typeof query.Expression === 'string') found.push(...metricsInExpression(logicalId, query.Expression));
      const metric = isRecord(query.MetricStat) && isRecord(query.MetricStat.Metric) ? query.MetricStat.Metric : undefined;
      if (metric !== undefined) found.push({ origin: logicalId, namespace: String(metric.Namespace), metricName: String(metric.MetricName) });
    }
  }
  return found;
}

/** The dashboard body with `${...}` substitutions replaced by a placeholder, parsed. */
export function dashboardBody(template: CfnTemplate, logicalId = 'Dashboard'): { widgets: unknown[] } {
  const body = template.Resources[logicalId]?.Properties?.DashboardBody;
  const text = isRecord(body) ? body['Fn::Sub'] : body;
  if (typeof text !== 'string') throw new Error(`${logicalId}: DashboardBody is neither a string nor a Fn::Sub string`);
  const parsed: unknown = JSON.parse(text.replace(/\$\{[^}]+\}/g, 'substituted'));
  if (!isRecord(parsed) || !Array.isArray(parsed.widgets)) throw new Error(`${logicalId}: body has no widgets`);
  return { widgets: parsed.widgets };
}

/** Every metric the dashboard's metric widgets read: `[Namespace, MetricName, ...]` rows and expressions. */
export function dashboardMetrics(template: CfnTemplate, logicalId = 'Dashboard'): MetricReference[] {
  const found: MetricReference[] = [];
  for (const [index, widget] of dashboardBody(template, logicalId).widgets.entries()) {
    if (!isRecord(widget) || widget.type !== 'metric' || !isRecord(widget.properties)) continue;
    const origin = `${logicalId} widget ${index}`;
    const rows = Array.isArray(widget.properties.metrics) ? widget.properties.metrics : [];
    for (const row of rows) {
      if (!Array.isArray(row)) throw new Error(`${origin}: a metrics row is not an array`);
      const [first, second] = row as unknown[];
      if (typeof first === 'string' && typeof second === 'string') found.push({ origin, namespace: first, metricName: second });
      else if (isRecord(first) && typeof first.expression === 'string') found.push(...metricsInExpression(origin, first.expression));
      else throw new Error(`${origin}: unrecognised metrics row ${JSON.stringify(row)}`);
    }
  }
  return found;
}
