/**
 * manifests/components/auditor on top of each overlay: it builds with `kubectl kustomize`, every
 * object passes the schema checks, it changes only what it says (SIDELOG_AUDIT on the server, a
 * ClusterRole and its binding), and its RBAC is exactly the API calls the auditor makes against the
 * local API server: no verb more, none missing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { loadConfig } from '../webhook/config.js';
import { parsePolicy } from '../webhook/core/policy.js';
import { flagsToConfig } from '../webhook/main.js';
import { startAuditor } from '../webhook/ops/auditor.js';
import { CURRENT_POLICY, seedCluster } from './k8s/cluster-fixture.js';
import { startFakeApi } from './k8s/fake-api.js';
import { type Binding, Built, type Deployment, type K8sObject, type Role, kustomize } from './manifests/build.js';
import { hasSchema, schemaProblems, unknownFields } from './manifests/schema.js';

const ROOT = resolve(import.meta.dirname, '..');
const OVERLAYS = ['self-managed', 'cert-manager'] as const;
const COMPONENT = join(ROOT, 'manifests/components/auditor');

function withAuditor(overlay: string): Built {
  const dir = mkdtempSync(join(tmpdir(), 'sidelog-auditor-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), ['resources:', `  - ${relative(dir, join(ROOT, 'manifests/overlays', overlay))}`, 'components:', `  - ${relative(dir, COMPONENT)}`, ''].join('\n'));
    return new Built(kustomize(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

describe.each(OVERLAYS)('overlay %s with components/auditor', (overlay) => {
  let b: Built;
  let plain: Built;
  beforeAll(() => {
    b = withAuditor(overlay);
    plain = new Built(kustomize(join(ROOT, 'manifests/overlays', overlay)));
  });

  it('every built-in object is valid against the Kubernetes schema, with no unknown field', () => {
    const builtIn = b.objects.filter(hasSchema);
    expect(builtIn.length).toBeGreaterThan(5);
    expect(builtIn.flatMap((o) => [...schemaProblems(o), ...unknownFields(o)].map((p) => `${key(o)}: ${p}`))).toEqual([]);
  });

  it('adds the ClusterRole and its binding, and changes nothing but the server\'s SIDELOG_AUDIT', () => {
    const before = new Map(plain.objects.map((o) => [key(o), o]));
    expect(b.objects.map(key).filter((k) => !before.has(k)).sort()).toEqual(['ClusterRole//sidelog-auditor', 'ClusterRoleBinding//sidelog-auditor']);
    expect(plain.objects.map(key).filter((k) => !b.objects.some((o) => key(o) === k))).toEqual([]);
    const changed = b.objects.filter((o) => before.has(key(o)) && JSON.stringify(o) !== JSON.stringify(before.get(key(o))));
    expect(changed.map(key)).toEqual(['Deployment/sidelog/sidelog']);
    const server = (d: Built) => d.get<Deployment>('Deployment', 'sidelog').spec.template.spec.containers.find((c) => c.name === 'sidelog')!;
    const env = server(b).env!;
    expect(env.filter((e) => !server(plain).env!.some((x) => x.name === e.name))).toEqual([{ name: 'SIDELOG_AUDIT', value: 'true' }]);
    expect({ ...server(b), env: undefined }).toEqual({ ...server(plain), env: undefined });
    const config = loadConfig(flagsToConfig(server(b).args!.slice(1)), Object.fromEntries(env.map((e) => [e.name, e.value])));
    expect(config.audit).toBe(true);
  });

  it('binds the role to the webhook\'s own ServiceAccount', () => {
    const d = b.get<Deployment>('Deployment', 'sidelog');
    const binding = b.get<Binding>('ClusterRoleBinding', 'sidelog-auditor');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sidelog-auditor' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: d.spec.template.spec.serviceAccountName, namespace: d.metadata.namespace }]);
  });
});

describe('components/auditor RBAC', () => {
  it('grants exactly the calls the auditor makes: list/watch pods and namespaces, create events', async () => {
    const role = withAuditor('self-managed').get<Role>('ClusterRole', 'sidelog-auditor');
    const granted = new Set(role.rules!.flatMap((r) => {
      expect(r.resourceNames).toBeUndefined();
      return r.apiGroups!.flatMap((g) => r.resources!.flatMap((res) => r.verbs.map((v) => `${v} ${g}/${res}`)));
    }));

    const api = await startFakeApi();
    seedCluster(api);
    const auditor = await startAuditor({ registry: new Registry(), policy: () => parsePolicy(CURRENT_POLICY), log: { warn: () => undefined, info: () => undefined }, kube: { kubeconfig: api.kubeconfig } });
    try {
      const deadline = Date.now() + 10_000;
      while (api.list('events').length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(api.list('events')).toHaveLength(5);
    } finally {
      await auditor.stop();
      await api.close();
    }
    const used = new Set(api.requests.map((q) => {
      const m = /^\/api\/v1\/(?:namespaces\/[^/]+\/)?([a-z]+)$/.exec(q.path);
      if (!m) return `unexpected ${q.method} ${q.path}`;
      const verb = q.method === 'POST' ? 'create' : q.query?.includes('watch=true') ? 'watch' : 'list';
      return `${verb} /${m[1]}`;
    }));
    expect([...used].sort()).toEqual([...granted].sort());
  });
});
