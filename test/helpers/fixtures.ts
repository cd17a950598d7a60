/**
 * Pods as the webhook receives them: already defaulted by the API server and mutated by the
 * built-in admission plugins (ServiceAccount's kube-api-access volume, DefaultTolerationSeconds),
 * which run before mutating webhooks.
 */
import type { Pod } from '../../webhook/core/pod.js';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const API_ACCESS_VOLUME = 'kube-api-access-x7k2p';

const restrictedContainerContext = () => ({
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
});

const defaulted = {
  imagePullPolicy: 'IfNotPresent',
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
};

const BASE_POD: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'web-6d9f7c8b5d-',
    namespace: 'team-a',
    labels: { app: 'web', 'pod-template-hash': '6d9f7c8b5d' },
    annotations: { 'kubectl.kubernetes.io/default-container': 'web' },
    ownerReferences: [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-6d9f7c8b5d', uid: '5b1c3e0a-7f0e-4d5e-9a53-2f8e3c1d9b77', controller: true, blockOwnerDeletion: true },
    ],
  },
  spec: {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 101,
      runAsGroup: 101,
      fsGroup: 101,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [
      {
        name: 'web',
        image: 'registry.example.com/team-a/web:1.27.3',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [{ name: 'LOG_DIR', value: '/var/log/app' }],
        resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
        readinessProbe: {
          httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' },
          periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3,
        },
        volumeMounts: [
          { name: 'app-logs', mountPath: '/var/log/app' },
          { name: 'tmp', mountPath: '/tmp' },
          { name: API_ACCESS_VOLUME, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true },
        ],
        securityContext: restrictedContainerContext(),
        ...defaulted,
      },
      {
        name: 'worker',
        image: 'registry.example.com/team-a/worker:3.2.0',
        args: ['--queue', 'orders'],
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
        ],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        volumeMounts: [{ name: API_ACCESS_VOLUME, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true }],
        securityContext: restrictedContainerContext(),
        ...defaulted,
      },
    ],
    volumes: [
      { name: 'app-logs', emptyDir: { sizeLimit: '1Gi' } },
      { name: 'tmp', emptyDir: {} },
      {
        name: API_ACCESS_VOLUME,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    serviceAccount: 'default',
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  },
};

/**
 * A fresh deep copy of a restricted-compliant two-container Deployment pod in namespace team-a:
 * `web` (nginx-like, logs to /var/log/app on an emptyDir) and `worker`, both with the
 * kube-api-access projected volume mounted at /var/run/secrets/kubernetes.io/serviceaccount.
 */
export function basePod(): Pod {
  return structuredClone(BASE_POD);
}

/** A deep copy of `pod` with `annotations` added (replacing same-named ones); `pod` is left as it was. */
export function withAnnotations(pod: Pod, annotations: Record<string, string>): Pod {
  const copy = structuredClone(pod);
  copy.metadata = { ...copy.metadata, annotations: { ...copy.metadata?.annotations, ...annotations } };
  return copy;
}
