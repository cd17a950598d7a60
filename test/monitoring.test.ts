/**
 * The monitoring component (manifests/components/monitoring), built with `kubectl kustomize` on
 * top of each overlay as a user's overlay would include it: every object valid against its
 * schema (the Prometheus Operator's CRD schemas for ServiceMonitor and PrometheusRule), the
 * ServiceMonitor wired to a real Service port that serves /metrics over TLS with the CA the
 * overlays write, every alert and dashboard query valid PromQL naming only metrics the server
 * exports, and the alerts the operations guide recommends all present.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { createMetrics } from '../webhook/metrics.js';
import { createAuditor } from '../webhook/ops/auditor.js';
import { Built, type ConfigMap, type Deployment, type K8sObject, type Service, kustomize, selects } from './manifests/build.js';
import { hasSchema, schemaProblems } from './manifests/schema.js';

const ROOT = resolve(import.meta.dirname, '..');
const COMPONENT = join(ROOT, 'manifests/components/monitoring');
const OVERLAYS = ['self-managed', 'cert-manager'];

/** Every metric name the server can expose (the in-server auditor's too), histogram series included. */
function exportedMetrics(): Set<string> {
  const metrics = createMetrics({ certNotAfter: () => new Date(), policyOutputs: () => 1 });
  createAuditor({ registry: metrics.registry, record: async () => undefined, log: { warn: () => undefined, info: () => undefined } });
  const names = new Set<string>();
  for (const m of (metrics.registry as unknown as { getMetricsAsArray(): Array<{ name: string; type?: string; constructor: { name: string } }> }).getMetricsAsArray()) {
    names.add(m.name);
    for (const suffix of ['_bucket', '_sum', '_count']) if (m.constructor.name === 'Histogram' || m.constructor.name === 'Summary') names.add(`${m.name}${suffix}`);
  }
  return names;
}

/** Parse PromQL (Grafana's `$__rate_interval` stands for a duration); the metric names it selects, or its syntax errors. */
function promql(expr: string): { metrics: string[]; errors: string[] } {
  const text = expr.replace(/\$__rate_interval/g, '5m');
  const metrics: string[] = [];
  const errors: string[] = [];
  parser.parse(text).iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(`syntax error at ${n.from}: ${text.slice(Math.max(0, n.from - 20), n.to + 20)}`);
      if (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector') metrics.push(text.slice(n.from, n.to));
    },
  });
  return { metrics, errors };
}

/** The overlay with the component, built from a scratch kustomization as a user's overlay is. */
function buildWithComponent(overlay: string): Built {
  const dir = mkdtempSync(join(tmpdir(), 'sidelog-monitoring-'));
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${relative(dir, join(ROOT, 'manifests/overlays', overlay))}\ncomponents:\n  - ${relative(dir, COMPONENT)}\n`,
    );
    return new Built(kustomize(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Rule = { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
type RuleObject = K8sObject & { spec: { groups: Array<{ name: string; rules: Rule[] }> } };
type Endpoint = { port?: string; targetPort?: unknown; scheme?: string; path?: string; tlsConfig?: { serverName?: string; ca?: { secret?: { name: string; key: string } }; insecureSkipVerify?: boolean } };
type MonitorObject = K8sObject & { spec: { selector: { matchLabels?: Record<string, string> }; namespaceSelector?: { matchNames?: string[] }; endpoints: Endpoint[] } };

const exported = exportedMetrics();

describe.each(OVERLAYS)('monitoring component on %s', (overlay) => {
  let b: Built;
  let rules: Rule[];
  let dashboard: { panels: Array<{ title: string; targets: Array<{ expr: string }>; datasource?: unknown }>; uid?: string; templating?: unknown };
  beforeAll(() => {
    b = buildWithComponent(overlay);
    rules = b.get<RuleObject>('PrometheusRule', 'sidelog').spec.groups.flatMap((g) => g.rules);
    dashboard = JSON.parse(b.get<ConfigMap>('ConfigMap', 'sidelog-grafana-dashboard').data!['sidelog.json']!);
  });

  it('adds a ServiceMonitor, a PrometheusRule and the dashboard ConfigMap, all valid against their schemas', () => {
    const without = new Built(kustomize(join(ROOT, 'manifests/overlays', overlay)));
    const added = b.objects.filter((o) => !without.find(o.kind, o.metadata.name)).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(added.sort()).toEqual(['ConfigMap/sidelog-grafana-dashboard', 'PrometheusRule/sidelog', 'ServiceMonitor/sidelog']);
    for (const name of added) {
      const [kind, n] = name.split('/') as [string, string];
      const o = b.get(kind, n);
      expect(hasSchema(o)).toBe(true);
      expect([name, schemaProblems(o)]).toEqual([name, []]);
      expect([name, o.metadata.namespace, o.metadata.labels?.['app.kubernetes.io/name']]).toEqual([name, 'sidelog', 'sidelog']);
    }
  });

  it('the schema check catches a broken rule (it is not vacuous)', () => {
    const broken = structuredClone(b.get<RuleObject>('PrometheusRule', 'sidelog'));
    (broken.spec.groups[0] as { rules: unknown }).rules = 'not a list';
    expect(schemaProblems(broken)).not.toEqual([]);
  });

  it('scrapes the webhook pods: a Service port by name, HTTPS, /metrics, verified against the CA in sidelog-tls', () => {
    const sm = b.get<MonitorObject>('ServiceMonitor', 'sidelog');
    expect(sm.spec.namespaceSelector?.matchNames).toEqual(['sidelog']);
    const services = b.all<Service>('Service').filter((s) => s.metadata.namespace === 'sidelog' && selects(sm.spec.selector, s.metadata.labels));
    expect(services.map((s) => s.metadata.name)).toEqual(['sidelog']);
    const service = services[0]!;
    expect(sm.spec.endpoints).toHaveLength(1);
    const ep = sm.spec.endpoints[0]!;
    for (const k of Object.keys(ep)) expect(['port', 'scheme', 'path', 'interval', 'scrapeTimeout', 'tlsConfig']).toContain(k);
    const port = service.spec.ports.find((p) => p.name === ep.port);
    expect(port).toBeDefined();
    // The Service port leads to a container port of the webhook: the server listens there.
    const deployment = b.get<Deployment>('Deployment', 'sidelog');
    const container = deployment.spec.template.spec.containers.find((c) => c.name === 'sidelog')!;
    expect(container.ports?.some((p) => p.name === port!.targetPort || p.containerPort === port!.targetPort)).toBe(true);
    expect([ep.scheme, ep.path]).toEqual(['https', '/metrics']);
    expect(ep.tlsConfig?.insecureSkipVerify).toBeUndefined();
    expect(ep.tlsConfig?.ca?.secret).toEqual({ name: 'sidelog-tls', key: 'ca.crt' });
    // The serving certificate names the Service, not pod IPs.
    expect(ep.tlsConfig?.serverName).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc`);
  });

  it('every alert is valid PromQL that names only metrics the server exports', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      const { metrics, errors } = promql(r.expr);
      expect([r.alert, errors]).toEqual([r.alert, []]);
      expect([r.alert, metrics.length > 0]).toEqual([r.alert, true]);
      expect([r.alert, metrics.filter((m) => !exported.has(m))]).toEqual([r.alert, []]);
      for (const k of Object.keys(r)) expect(['alert', 'expr', 'for', 'labels', 'annotations']).toContain(k);
      expect(['info', 'warning', 'critical']).toContain(r.labels?.severity);
      expect(r.annotations?.summary).toBeTruthy();
    }
  });

  it('alerts on what the operations guide recommends', () => {
    const metricsOf = (alert: string) => rules.filter((r) => r.alert === alert).flatMap((r) => promql(r.expr).metrics);
    expect(metricsOf('SidelogCertificateExpiresSoon')).toContain('sidelog_certificate_expiry_seconds');
    expect(metricsOf('SidelogPolicyReloadFailed')).toEqual(['sidelog_policy_reloads_total']);
    expect(metricsOf('SidelogPodsDenied')).toEqual(['sidelog_requests_total']);
    expect(metricsOf('SidelogPodsMissingSidecars')).toEqual(['sidelog_pods_missing_sidecars']);
    expect(metricsOf('SidelogWebhookSlow')).toEqual(['sidelog_request_duration_seconds_bucket', 'sidelog_request_duration_seconds_count']);
  });

  it('the latency alert reads a histogram bucket that exists, at half the webhooks\' timeoutSeconds', () => {
    const slow = rules.find((r) => r.alert === 'SidelogWebhookSlow')!;
    const le = Number(/le="([0-9.]+)"/.exec(slow.expr)![1]);
    const mwc = b.get<K8sObject & { webhooks: Array<{ timeoutSeconds: number }> }>('MutatingWebhookConfiguration', 'sidelog');
    for (const w of mwc.webhooks) expect(le).toBe(w.timeoutSeconds / 2);
    const metrics = createMetrics({ certNotAfter: () => undefined, policyOutputs: () => 0, processMetrics: false });
    metrics.duration.observe({ route: '/mutate' }, 0.001);
    return metrics.registry.getSingleMetricAsString('sidelog_request_duration_seconds').then((text) => expect(text).toContain(`le="${le}"`));
  });

  it('the dashboard is Grafana JSON whose every query is valid PromQL over exported metrics', () => {
    expect(dashboard.uid).toBe('sidelog');
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    const used = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.title).toBeTruthy();
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) {
        const { metrics, errors } = promql(t.expr);
        expect([p.title, errors]).toEqual([p.title, []]);
        expect([p.title, metrics.filter((m) => !exported.has(m))]).toEqual([p.title, []]);
        for (const m of metrics) used.add(m.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    // Every sidelog metric of webhook/metrics.ts has a panel.
    const own = createMetrics({ certNotAfter: () => undefined, policyOutputs: () => 0, processMetrics: false });
    const ownNames = (own.registry as unknown as { getMetricsAsArray(): Array<{ name: string }> }).getMetricsAsArray().map((m) => m.name);
    expect(ownNames.filter((n) => !used.has(n))).toEqual([]);
  });

  it('the PromQL check catches an unknown metric and a syntax error (it is not vacuous)', () => {
    expect(promql('rate(sidelog_requets_total[5m])').metrics.filter((m) => !exported.has(m))).toEqual(['sidelog_requets_total']);
    expect(promql('sum(rate(sidelog_requests_total[5m]) >').errors).not.toEqual([]);
  });
});

it('the missing-sidecars alert reads the gauge the in-server auditor exports', () => {
  expect(exported.has('sidelog_pods_missing_sidecars')).toBe(true);
});

it('the component file is a kustomize Component', () => {
  expect(parseYaml(readFileSync(join(COMPONENT, 'kustomization.yaml'), 'utf8'))).toMatchObject({ apiVersion: 'kustomize.config.k8s.io/v1alpha1', kind: 'Component' });
});
