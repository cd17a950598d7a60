/**
 * Memory of the auditor's pod cache per pod: a realistic pod as the informer receives it, kept
 * whole and cut down by slimPod. A script, not a test:
 *   npm run build --silent && node --expose-gc dist/test/bench/auditor-memory.js
 */
import { slimPod } from '../../webhook/k8s/cluster.js';
import type { LivePod } from '../../webhook/inject/audit.js';

declare const gc: () => void;
const N = 10000;
function pod(i: number, asks: boolean): LivePod {
  return podJson(i, asks) as LivePod;
}

function podJson(i: number, asks: boolean): Record<string, unknown> {
  return { metadata: { name: `web-5d4f8-${i}`, namespace: 'team-a', uid: `8f1c0e7a-1b2c-4d5e-9f00-${String(i).padStart(12, '0')}`, resourceVersion: String(100000 + i), creationTimestamp: '2026-12-01T10:00:00Z', generateName: 'web-5d4f8-',
    labels: { app: 'web', 'pod-template-hash': '5d4f8', team: 'a' }, annotations: asks ? { 'sidelog.io/streams': '- path: /var/log/app/app.log\n  output: stdout\n', 'sidelog.io/status': '{"version":1,"native":true,"streams":[{"name":"app","mode":"agent","container":"web","output":"stdout"}]}' } : { 'kubectl.kubernetes.io/restartedAt': '2026-12-01T10:00:00Z' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d4f8', uid: 'x', controller: true, blockOwnerDeletion: true }],
    managedFields: Array.from({ length: 3 }, (_, k) => ({ manager: `m${k}`, operation: 'Update', apiVersion: 'v1', time: '2026-12-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:env': {}, 'f:ports': {}, 'f:resources': {} } } }, 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {} } } })) },
    spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1.2.3', ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }], env: Array.from({ length: 8 }, (_, k) => ({ name: `E${k}`, value: `v${k}` })), resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } }, volumeMounts: [{ name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }], terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' }],
      volumes: [{ name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } }],
      nodeName: 'node-1', restartPolicy: 'Always', serviceAccountName: 'default', tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }] },
    status: { phase: 'Running', podIP: '10.0.0.1', hostIP: '10.1.0.1', conditions: Array.from({ length: 5 }, (_, k) => ({ type: `C${k}`, status: 'True', lastTransitionTime: '2026-12-01T10:00:00Z' })), containerStatuses: [{ name: 'web', ready: true, restartCount: 0, image: 'x', imageID: 'sha256:abc', containerID: 'containerd://abc', started: true, state: { running: { startedAt: '2026-12-01T10:00:00Z' } } }] } };
}
function measure(slim: boolean, asksShare: number) {
  gc(); const before = process.memoryUsage().heapUsed;
  const keep: LivePod[] = [];
  for (let i = 0; i < N; i++) { const p = pod(i, i % asksShare === 0); if (slim) slimPod(p); keep.push(p); }
  gc(); const after = process.memoryUsage().heapUsed;
  return { bytesPerPod: Math.round((after - before) / N), jsonBytes: JSON.stringify(pod(1, false)).length, keep: keep.length };
}
console.log('full, none ask', measure(false, 1e9));
console.log('slim, none ask', measure(true, 1e9));
console.log('slim, all ask (injected)', measure(true, 1));
console.log('slim, 1 in 10 ask', measure(true, 10));
