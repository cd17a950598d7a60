/**
 * The parts of the Kubernetes Pod shape sidelog reads and writes. Objects arrive as JSON from the
 * API server; sidelog validates the parts it relies on and passes every other field through untouched.
 */
import { z } from 'zod';

/** A JSON object as parsed: any keys, unknown values. */
export type Obj = Record<string, unknown>;

/** Whether a parsed value is a JSON object (not null, not an array). */
export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string; apiVersion?: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  subPathExpr?: string;
}

export interface Volume {
  name: string;
  emptyDir?: { sizeLimit?: string; medium?: string };
  downwardAPI?: { items: Array<{ path: string; fieldRef: { fieldPath: string } }>; defaultMode?: number };
  secret?: { secretName: string; items?: Array<{ key: string; path: string }>; defaultMode?: number };
  [other: string]: unknown;
}

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string; localhostProfile?: string };
  [other: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  resources?: ResourceRequirements;
  securityContext?: SecurityContext;
  restartPolicy?: string;
  [other: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  /** Never set at CREATE by the API server's rules, but names are checked against them all the same. */
  ephemeralContainers?: Container[];
  volumes?: Volume[];
  os?: { name?: string };
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean; windowsOptions?: { hostProcess?: boolean; [other: string]: unknown }; [other: string]: unknown };
  [other: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [other: string]: unknown;
  };
  spec: PodSpec;
  [other: string]: unknown;
}

const named = z.looseObject({ name: z.string().min(1) });
const mount = z.looseObject({
  name: z.string().min(1),
  mountPath: z.string().min(1),
  readOnly: z.boolean().optional(),
  subPath: z.string().optional(),
  subPathExpr: z.string().optional(),
});
/**
 * A container as far as sidelog reads it: its name, its mounts, its restart policy (init
 * containers). Its `env`, `ports`, probes and the rest are passed through unread, so a pod with
 * thousands of env vars costs no more to check than one without.
 */
const container = z.looseObject({
  name: z.string().min(1),
  volumeMounts: z.array(mount).optional(),
  restartPolicy: z.string().optional(),
});

/**
 * The structure sidelog relies on (names, mounts, volumes, security context, restart policy, OS,
 * grace period, annotations); other fields pass through as they are, without being walked.
 */
export const PodSchema = z.looseObject({
  metadata: z
    .looseObject({
      annotations: z.record(z.string(), z.string()).optional(),
      name: z.string().optional(),
      generateName: z.string().optional(),
      namespace: z.string().optional(),
    })
    .optional(),
  spec: z.looseObject({
    containers: z.array(container).min(1),
    initContainers: z.array(container).optional(),
    ephemeralContainers: z.array(named).optional(),
    volumes: z.array(named).optional(),
    os: z.looseObject({ name: z.string().optional() }).optional(),
    restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
    terminationGracePeriodSeconds: z.number().int().min(0).optional(),
    securityContext: z
      .looseObject({
        runAsUser: z.number().int().optional(),
        windowsOptions: z.looseObject({ hostProcess: z.boolean().optional() }).optional(),
      })
      .optional(),
  }),
});
