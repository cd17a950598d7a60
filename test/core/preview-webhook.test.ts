/**
 * Preview equals the webhook: for every kind preview accepts, the pod the preview shows is the pod
 * the webhook (answerReview, what /mutate runs) makes of the pod the controller really creates.
 * The controller pods below are written by hand from what the Kubernetes controllers and the API
 * server do before admission (pod naming, controller labels, StatefulSet claims, Pod defaults), so
 * a gap between preview and the webhook shows here as a difference.
 */
import fastJsonPatch from 'fast-json-patch';
import { answerReview } from '../../webhook/inject/admission.js';
import { parseKubeVersion } from '../../webhook/core/kube-version.js';
import { parsePolicy } from '../../webhook/core/policy.js';
import { previewObject } from '../../webhook/inject/preview.js';
import { InputError } from '../../webhook/core/problems.js';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const policy = parsePolicy(readFileSync(join(ROOT, 'test/golden/policy.yaml'), 'utf8'), 'policy.yaml');
const NS = 'team-a';

const STREAMS = '- path: /var/log/app/app.log\n  output: aggregator\n  critical: true\n- path: /var/log/app/access.log\n';
const annotations = { 'sidelog.io/streams': STREAMS };
const securityContext = { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } };
const web = (extra: object = {}) => ({ name: 'web', image: 'registry.example.com/shop:1.4', volumeMounts: [{ name: 'logs', mountPath: '/var/log/app' }], ...extra });
/** The template as users write it: labels, the annotation, a `logs` volume that names no source. */
const template = (spec: object = {}) => ({
  metadata: { labels: { app: 'shop' }, annotations },
  spec: { securityContext, containers: [web()], volumes: [{ name: 'logs' }], ...spec },
});

interface Case {
  readonly manifest: Record<string, unknown>;
  /** The pod as the API server sends it to the webhook. */
  readonly pod: Record<string, unknown>;
}

/** Pod defaults the API server applies before admission, as far as the pods below need them. */
const defaults = { restartPolicy: 'Always', terminationGracePeriodSeconds: 30 };
const defaultedLogs = [{ name: 'logs', emptyDir: {} }];

const CASES: Record<string, Case> = {
  Pod: {
    manifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shop', labels: { app: 'shop' }, annotations }, spec: template().spec },
    pod: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shop', labels: { app: 'shop' }, annotations, namespace: NS }, spec: { securityContext, containers: [web()], volumes: defaultedLogs, ...defaults } },
  },
  Deployment: {
    manifest: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shop', namespace: NS }, spec: { selector: { matchLabels: { app: 'shop' } }, template: template() } },
    pod: { apiVersion: 'v1', kind: 'Pod', metadata: { annotations, generateName: 'shop-', labels: { app: 'shop' }, namespace: NS }, spec: { securityContext, containers: [web()], volumes: defaultedLogs, ...defaults } },
  },
  ReplicaSet: {
    manifest: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'shop', namespace: NS }, spec: { selector: { matchLabels: { app: 'shop' } }, template: template() } },
    pod: { apiVersion: 'v1', kind: 'Pod', metadata: { annotations, generateName: 'shop-', labels: { app: 'shop' }, namespace: NS }, spec: { securityContext, containers: [web()], volumes: defaultedLogs, ...defaults } },
  },
  DaemonSet: {
    manifest: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'shop', namespace: NS }, spec: { selector: { matchLabels: { app: 'shop' } }, template: template() } },
    pod: { apiVersion: 'v1', kind: 'Pod', metadata: { annotations, generateName: 'shop-', labels: { app: 'shop' }, namespace: NS }, spec: { securityContext, containers: [web()], volumes: defaultedLogs, ...defaults } },
  },
  // The log directory is a volumeClaimTemplate: the pod reads its own PVC, which replaces the
  // template's `logs` volume; the controller names the pod and sets hostname and subdomain.
  StatefulSet: {
    manifest: {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'shop', namespace: NS },
      spec: {
        serviceName: 'shop',
        selector: { matchLabels: { app: 'shop' } },
        template: template(),
        volumeClaimTemplates: [{ metadata: { name: 'logs' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    },
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { annotations, name: 'shop-0', labels: { app: 'shop', 'statefulset.kubernetes.io/pod-name': 'shop-0', 'apps.kubernetes.io/pod-index': '0' }, namespace: NS },
      spec: { securityContext, containers: [web()], volumes: [{ name: 'logs', persistentVolumeClaim: { claimName: 'logs-shop-0' } }], ...defaults, hostname: 'shop-0', subdomain: 'shop' },
    },
  },
  Job: {
    manifest: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'report', namespace: NS }, spec: { template: template({ restartPolicy: 'Never' }) } },
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { annotations, generateName: 'report-', labels: { app: 'shop', 'batch.kubernetes.io/job-name': 'report', 'job-name': 'report' }, namespace: NS },
      spec: { securityContext, containers: [web()], volumes: defaultedLogs, restartPolicy: 'Never', terminationGracePeriodSeconds: 30 },
    },
  },
  CronJob: {
    manifest: { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: NS }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: template({ restartPolicy: 'OnFailure' }) } } } },
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { annotations, generateName: 'nightly-', labels: { app: 'shop', 'batch.kubernetes.io/job-name': 'nightly', 'job-name': 'nightly' }, namespace: NS },
      spec: { securityContext, containers: [web()], volumes: defaultedLogs, restartPolicy: 'OnFailure', terminationGracePeriodSeconds: 30 },
    },
  },
};

/** What /mutate does to the controller's pod: the webhook's patch applied to it. */
function webhook(pod: object, kubeVersion: string) {
  const review = { apiVersion: 'admission.k8s.io/v1' as const, kind: 'AdmissionReview' as const, request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: NS, operation: 'CREATE' as const, object: pod } };
  const { review: answer } = answerReview(review, { policy, enforcement: 'enabled', kubeVersion: parseKubeVersion(kubeVersion) });
  const patch = answer.response.patch ? JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) : [];
  return { pod: fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument, warnings: answer.response.warnings ?? [] };
}

describe('preview equals the webhook', () => {
  it('covers every kind preview accepts', async () => {
    const { PREVIEW_KINDS } = await import('../../webhook/inject/preview.js');
    expect(Object.keys(CASES).sort()).toEqual([...PREVIEW_KINDS].sort());
  });

  describe.each(Object.entries(CASES).flatMap(([kind, c]) => ['1.30', '1.28'].map((v) => [kind, v, c] as const)))('%s (Kubernetes %s)', (kind, kubeVersion, c) => {
    const preview = previewObject(c.manifest, { policy, kubeVersion: parseKubeVersion(kubeVersion), namespace: NS });
    const answer = webhook(c.pod, kubeVersion);

    it('shows the pod the webhook makes of the pod the controller creates', () => {
      expect(preview.pod).toEqual(answer.pod);
      expect(preview.warnings).toEqual(answer.warnings);
    });

    it('injects, reusing the existing log volume (no new emptyDir over it)', () => {
      const volumes = (answer.pod as { spec: { volumes: Array<{ name: string }> } }).spec.volumes.map((v) => v.name);
      if (kind === 'Job' || kind === 'CronJob' ? kubeVersion === '1.30' : true) {
        expect(preview.injection?.streams.map((s) => s.name)).toEqual(['access', 'app']);
        expect(volumes.filter((v) => v.startsWith('sidelog-logs'))).toEqual([]);
      } else {
        // A run-to-completion pod on a cluster without native sidecars is left alone, with a warning.
        expect(preview.patch).toEqual([]);
        expect(preview.warnings.join('\n')).toContain('restartPolicy');
      }
    });

    it('changes the template only by what sidelog added (the controller and API defaults stay out)', () => {
      if (!preview.patch.length) return;
      const ops = preview.patch.map((op) => `${op.op} ${op.path}`);
      expect(ops.every((o) => o.startsWith('add '))).toBe(true);
      expect(ops.join('\n')).not.toMatch(/restartPolicy$|terminationGracePeriodSeconds|hostname|subdomain|job-name|pod-name|persistentVolumeClaim/);
      const json = JSON.stringify(preview.mutated);
      expect(json).not.toContain('logs-shop-0');
    });
  });

  it.each([
    ['a Job without restartPolicy', { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: template() } }, /spec\.template\.spec\.restartPolicy: a Job's pods must use OnFailure or Never \(it is unset\): the API server refuses this Job/],
    ['a CronJob whose pods restart Always', { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'c' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: template({ restartPolicy: 'Always' }) } } } }, /spec\.jobTemplate\.spec\.template\.spec\.restartPolicy: a CronJob's pods must use OnFailure or Never, not Always/],
    ['a Deployment whose pods never restart', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: template({ restartPolicy: 'Never' }) } }, /spec\.template\.spec\.restartPolicy: a Deployment's pods must use Always, not Never/],
    ['a Deployment whose volumes are not a list', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: template({ volumes: 'x' }) } }, /spec\.template\.spec\.volumes: must be a list of volumes/],
    ['a StatefulSet with a null volume', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's' }, spec: { template: template({ volumes: [null] }), volumeClaimTemplates: [{ metadata: { name: 'data' } }] } }, /spec\.template\.spec\.volumes: must be a list of volumes/],
  ])('refuses %s, as the API server would', (_what, manifest, message) => {
    expect(() => previewObject(manifest, { policy })).toThrow(InputError);
    expect(() => previewObject(manifest, { policy })).toThrow(message);
  });
});
