/**
 * The Kubernetes Pod Security Standards `restricted` profile, latest version (which includes every
 * `baseline` control), as kubernetes.io "Pod Security Standards" documents it and the
 * pod-security-admission checks (k8s.io/pod-security-admission/policy) implement it.
 *
 * Every check runs over containers, initContainers and ephemeralContainers. A container-level
 * setting overrides the pod-level one where the standard allows both (runAsNonRoot, seccomp):
 * an explicit bad value anywhere fails, and a container that leaves the field unset passes only
 * when the pod sets a good value. Each violation names one container (or the pod), prefixed with
 * the pod-security-admission check ID, so callers can filter by container.
 */
import type { Pod } from '../../webhook/core/pod.js';

type Obj = Record<string, unknown>;

const objOf = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const q = (v: unknown): string => JSON.stringify(v);

/** Capabilities baseline lets a container add (the container runtime's default set). */
export const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
/** The "safe" sysctls (pod-security-admission sysctlsAllowedV1Dot32). */
export const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem',
]);
/** Volume sources the restricted profile allows. */
export const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const APPARMOR_TYPES = new Set(['RuntimeDefault', 'Localhost']);
const SECCOMP_RESTRICTED = new Set(['RuntimeDefault', 'Localhost']);
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

interface Visited {
  /** e.g. `container "web"`, `initContainer "setup"`. */
  label: string;
  c: Obj;
  sc: Obj | undefined;
}

function containersOf(spec: Obj): Visited[] {
  const visit = (kind: string) => (c: unknown): Visited => {
    const o = objOf(c) ?? {};
    return { label: `${kind} ${q(o.name)}`, c: o, sc: objOf(o.securityContext) };
  };
  return [
    ...listOf(spec.containers).map(visit('container')),
    ...listOf(spec.initContainers).map(visit('initContainer')),
    ...listOf(spec.ephemeralContainers).map(visit('ephemeralContainer')),
  ];
}

/** Violations of the restricted profile (empty = compliant), one per offending pod field or container. */
export function restrictedViolations(pod: Pod): string[] {
  const out: string[] = [];
  const add = (check: string, msg: string): void => void out.push(`${check}: ${msg}`);
  const spec = objOf(pod.spec) ?? {};
  const podSc = objOf(spec.securityContext);
  const containers = containersOf(spec);
  // Linux-only controls are not required of pods declaring spec.os.name=windows (v1.25+).
  const windows = objOf(spec.os)?.name === 'windows';

  // ---- baseline ----
  // HostProcess
  if (objOf(podSc?.windowsOptions)?.hostProcess === true) add('windowsHostProcess', 'pod must not set securityContext.windowsOptions.hostProcess=true');
  for (const { label, sc } of containers) {
    if (objOf(sc?.windowsOptions)?.hostProcess === true) add('windowsHostProcess', `${label} must not set securityContext.windowsOptions.hostProcess=true`);
  }
  // Host namespaces
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (spec[field] === true) add('hostNamespaces', `pod must not set ${field}=true`);
  }
  // Privileged containers
  for (const { label, sc } of containers) if (sc?.privileged === true) add('privileged', `${label} must not set securityContext.privileged=true`);
  // Capabilities (baseline)
  for (const { label, sc } of containers) {
    const extra = listOf(objOf(sc?.capabilities)?.add).filter((c) => !BASELINE_CAPABILITIES.has(c as string));
    if (extra.length) add('capabilities_baseline', `${label} must not add capabilities ${extra.map(q).join(', ')}`);
  }
  // HostPath volumes
  for (const v of listOf(spec.volumes)) {
    const vol = objOf(v) ?? {};
    if (vol.hostPath !== undefined && vol.hostPath !== null) add('hostPathVolumes', `volume ${q(vol.name)} must not use hostPath`);
  }
  // Host ports
  for (const { label, c } of containers) {
    for (const p of listOf(c.ports)) {
      const hostPort = objOf(p)?.hostPort;
      if (hostPort !== undefined && hostPort !== 0) add('hostPorts', `${label} must not use hostPort ${q(hostPort)}`);
    }
  }
  // AppArmor
  const podAppArmor = objOf(podSc?.appArmorProfile)?.type;
  if (podAppArmor !== undefined && !APPARMOR_TYPES.has(podAppArmor as string)) add('appArmorProfile', `pod must not set appArmorProfile.type ${q(podAppArmor)}`);
  for (const { label, sc } of containers) {
    const t = objOf(sc?.appArmorProfile)?.type;
    if (t !== undefined && !APPARMOR_TYPES.has(t as string)) add('appArmorProfile', `${label} must not set appArmorProfile.type ${q(t)}`);
  }
  for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (k.startsWith(APPARMOR_ANNOTATION_PREFIX) && !(v === '' || v === 'runtime/default' || v.startsWith('localhost/'))) {
      add('appArmorProfile', `annotation ${k}=${q(v)} sets a forbidden AppArmor profile`);
    }
  }
  // SELinux
  const seLinux = (who: string, opts: Obj | undefined): void => {
    if (!opts) return;
    const type = opts.type ?? '';
    if (!SELINUX_TYPES.has(type as string)) add('seLinuxOptions', `${who} must not set seLinuxOptions.type ${q(type)}`);
    if (opts.user) add('seLinuxOptions', `${who} must not set seLinuxOptions.user`);
    if (opts.role) add('seLinuxOptions', `${who} must not set seLinuxOptions.role`);
  };
  seLinux('pod', objOf(podSc?.seLinuxOptions));
  for (const { label, sc } of containers) seLinux(label, objOf(sc?.seLinuxOptions));
  // /proc mount type
  for (const { label, sc } of containers) {
    if (sc?.procMount !== undefined && sc.procMount !== 'Default') add('procMount', `${label} must not set securityContext.procMount ${q(sc.procMount)}`);
  }
  // Seccomp (baseline): never Unconfined.
  if (objOf(podSc?.seccompProfile)?.type === 'Unconfined') add('seccompProfile_baseline', 'pod must not set seccompProfile.type "Unconfined"');
  for (const { label, sc } of containers) {
    if (objOf(sc?.seccompProfile)?.type === 'Unconfined') add('seccompProfile_baseline', `${label} must not set seccompProfile.type "Unconfined"`);
  }
  // Sysctls
  for (const s of listOf(podSc?.sysctls)) {
    const name = objOf(s)?.name;
    if (!SAFE_SYSCTLS.has(name as string)) add('sysctls', `pod must not set sysctl ${q(name)}`);
  }
  // Probe and lifecycle hosts (v1.34+)
  for (const { label, c } of containers) {
    const handlers: Array<[string, unknown]> = [
      ['livenessProbe', c.livenessProbe], ['readinessProbe', c.readinessProbe], ['startupProbe', c.startupProbe],
      ['lifecycle.postStart', objOf(c.lifecycle)?.postStart], ['lifecycle.preStop', objOf(c.lifecycle)?.preStop],
    ];
    for (const [where, h] of handlers) {
      for (const kind of ['httpGet', 'tcpSocket']) {
        const host = objOf(objOf(h)?.[kind])?.host;
        if (host !== undefined && host !== '') add('hostProbesAndHostLifecycle', `${label} must not set ${where}.${kind}.host ${q(host)}`);
      }
    }
  }

  // ---- restricted ----
  // Volume types
  for (const v of listOf(spec.volumes)) {
    const vol = objOf(v) ?? {};
    const bad = Object.keys(vol).filter((k) => k !== 'name' && !RESTRICTED_VOLUME_TYPES.has(k) && vol[k] !== undefined && vol[k] !== null);
    if (bad.length) add('restrictedVolumes', `volume ${q(vol.name)} must not use volume type ${bad.map(q).join(', ')}`);
  }
  // Privilege escalation (Linux only)
  if (!windows) {
    for (const { label, sc } of containers) {
      if (sc?.allowPrivilegeEscalation !== false) add('allowPrivilegeEscalation', `${label} must set securityContext.allowPrivilegeEscalation=false`);
    }
  }
  // Running as non-root: pod true covers containers that leave it unset; explicit false anywhere fails.
  const podNonRoot = podSc?.runAsNonRoot;
  if (podNonRoot === false) add('runAsNonRoot', 'pod must not set securityContext.runAsNonRoot=false');
  for (const { label, sc } of containers) {
    const own = sc?.runAsNonRoot;
    if (own === false) add('runAsNonRoot', `${label} must not set securityContext.runAsNonRoot=false`);
    else if (own === undefined && podNonRoot !== true) add('runAsNonRoot', `${label} must set securityContext.runAsNonRoot=true (or the pod must)`);
  }
  // Running as non-root user
  if (podSc?.runAsUser === 0) add('runAsUser', 'pod must not set securityContext.runAsUser=0');
  for (const { label, sc } of containers) if (sc?.runAsUser === 0) add('runAsUser', `${label} must not set securityContext.runAsUser=0`);
  // Seccomp (Linux only): RuntimeDefault or Localhost, at pod level or on every container.
  if (!windows) {
    const podProfile = objOf(podSc?.seccompProfile);
    const podOk = podProfile !== undefined && SECCOMP_RESTRICTED.has(podProfile.type as string);
    if (podProfile && !podOk) add('seccompProfile_restricted', `pod must not set seccompProfile.type ${q(podProfile.type)}`);
    for (const { label, sc } of containers) {
      const own = objOf(sc?.seccompProfile);
      if (own && !SECCOMP_RESTRICTED.has(own.type as string)) add('seccompProfile_restricted', `${label} must not set seccompProfile.type ${q(own.type)}`);
      else if (!own && !podOk) add('seccompProfile_restricted', `${label} must set seccompProfile.type to "RuntimeDefault" or "Localhost" (or the pod must)`);
    }
  }
  // Capabilities (Linux only): drop ALL, add nothing but NET_BIND_SERVICE.
  if (!windows) {
    for (const { label, sc } of containers) {
      const caps = objOf(sc?.capabilities);
      if (!listOf(caps?.drop).includes('ALL')) add('capabilities_restricted', `${label} must set securityContext.capabilities.drop=["ALL"]`);
      const extra = listOf(caps?.add).filter((c) => c !== 'NET_BIND_SERVICE');
      if (extra.length) add('capabilities_restricted', `${label} must not add capabilities ${extra.map(q).join(', ')}`);
    }
  }
  return out;
}
