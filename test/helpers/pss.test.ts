import type { Container, Pod, SecurityContext } from '../../webhook/core/pod.js';
import { basePod } from './fixtures.js';
import { restrictedViolations } from './pss.js';

type PodSc = Record<string, unknown>;
const podSc = (p: Pod): PodSc => (p.spec.securityContext ??= {}) as PodSc;
const web = (p: Pod): Container => p.spec.containers[0]!;
const sc = (c: Container): SecurityContext => (c.securityContext ??= {});
const after = (change: (p: Pod) => void): string[] => {
  const pod = basePod();
  change(pod);
  return restrictedViolations(pod);
};

describe('restrictedViolations', () => {
  it('accepts the restricted-compliant base pod', () => {
    expect(restrictedViolations(basePod())).toEqual([]);
  });

  it.each<[string, (p: Pod) => void, string]>([
    // baseline
    ['pod hostProcess', (p) => { podSc(p).windowsOptions = { hostProcess: true }; }, 'windowsHostProcess: pod must not set securityContext.windowsOptions.hostProcess=true'],
    ['container hostProcess', (p) => { sc(web(p)).windowsOptions = { hostProcess: true }; }, 'windowsHostProcess: container "web" must not set securityContext.windowsOptions.hostProcess=true'],
    ['hostNetwork', (p) => { p.spec.hostNetwork = true; }, 'hostNamespaces: pod must not set hostNetwork=true'],
    ['hostPID', (p) => { p.spec.hostPID = true; }, 'hostNamespaces: pod must not set hostPID=true'],
    ['hostIPC', (p) => { p.spec.hostIPC = true; }, 'hostNamespaces: pod must not set hostIPC=true'],
    ['privileged', (p) => { sc(web(p)).privileged = true; }, 'privileged: container "web" must not set securityContext.privileged=true'],
    ['hostPort', (p) => { (web(p).ports as Array<Record<string, unknown>>)[0]!.hostPort = 8080; }, 'hostPorts: container "web" must not use hostPort 8080'],
    ['pod AppArmor Unconfined', (p) => { podSc(p).appArmorProfile = { type: 'Unconfined' }; }, 'appArmorProfile: pod must not set appArmorProfile.type "Unconfined"'],
    ['container AppArmor Unconfined', (p) => { sc(web(p)).appArmorProfile = { type: 'Unconfined' }; }, 'appArmorProfile: container "web" must not set appArmorProfile.type "Unconfined"'],
    ['AppArmor annotation unconfined', (p) => { p.metadata!.annotations!['container.apparmor.security.beta.kubernetes.io/web'] = 'unconfined'; }, 'appArmorProfile: annotation container.apparmor.security.beta.kubernetes.io/web="unconfined" sets a forbidden AppArmor profile'],
    ['SELinux type', (p) => { podSc(p).seLinuxOptions = { type: 'spc_t' }; }, 'seLinuxOptions: pod must not set seLinuxOptions.type "spc_t"'],
    ['SELinux user', (p) => { sc(web(p)).seLinuxOptions = { user: 'system_u' }; }, 'seLinuxOptions: container "web" must not set seLinuxOptions.user'],
    ['SELinux role', (p) => { sc(web(p)).seLinuxOptions = { role: 'system_r', level: 's0:c1,c2' }; }, 'seLinuxOptions: container "web" must not set seLinuxOptions.role'],
    ['procMount Unmasked', (p) => { sc(web(p)).procMount = 'Unmasked'; }, 'procMount: container "web" must not set securityContext.procMount "Unmasked"'],
    ['unsafe sysctl', (p) => { podSc(p).sysctls = [{ name: 'net.ipv4.tcp_syncookies', value: '1' }, { name: 'kernel.msgmax', value: '1' }]; }, 'sysctls: pod must not set sysctl "kernel.msgmax"'],
    ['probe host', (p) => { (web(p).readinessProbe as { httpGet: Record<string, unknown> }).httpGet.host = '169.254.169.254'; }, 'hostProbesAndHostLifecycle: container "web" must not set readinessProbe.httpGet.host "169.254.169.254"'],
    ['lifecycle host', (p) => { web(p).lifecycle = { preStop: { tcpSocket: { host: '10.0.0.1', port: 80 } } }; }, 'hostProbesAndHostLifecycle: container "web" must not set lifecycle.preStop.tcpSocket.host "10.0.0.1"'],
    // restricted
    ['a non-core volume type', (p) => { p.spec.volumes!.push({ name: 'shared', nfs: { server: 'nfs', path: '/x' } }); }, 'restrictedVolumes: volume "shared" must not use volume type "nfs"'],
    ['allowPrivilegeEscalation unset', (p) => { delete sc(web(p)).allowPrivilegeEscalation; }, 'allowPrivilegeEscalation: container "web" must set securityContext.allowPrivilegeEscalation=false'],
    ['allowPrivilegeEscalation true', (p) => { sc(web(p)).allowPrivilegeEscalation = true; }, 'allowPrivilegeEscalation: container "web" must set securityContext.allowPrivilegeEscalation=false'],
    ['container runAsNonRoot false overriding the pod', (p) => { sc(web(p)).runAsNonRoot = false; }, 'runAsNonRoot: container "web" must not set securityContext.runAsNonRoot=false'],
    ['container runAsUser 0', (p) => { sc(web(p)).runAsUser = 0; }, 'runAsUser: container "web" must not set securityContext.runAsUser=0'],
    ['pod runAsUser 0', (p) => { podSc(p).runAsUser = 0; }, 'runAsUser: pod must not set securityContext.runAsUser=0'],
    ['capabilities not dropped', (p) => { sc(web(p)).capabilities = { drop: ['NET_RAW'] }; }, 'capabilities_restricted: container "web" must set securityContext.capabilities.drop=["ALL"]'],
    ['an added capability restricted forbids', (p) => { sc(web(p)).capabilities = { drop: ['ALL'], add: ['NET_BIND_SERVICE', 'CHOWN'] }; }, 'capabilities_restricted: container "web" must not add capabilities "CHOWN"'],
  ])('reports %s', (_what, change, violation) => {
    expect(after(change)).toEqual([violation]);
  });

  it('reports a capability beyond the baseline set under both checks', () => {
    expect(after((p) => { sc(web(p)).capabilities = { drop: ['ALL'], add: ['SYS_ADMIN'] }; })).toEqual([
      'capabilities_baseline: container "web" must not add capabilities "SYS_ADMIN"',
      'capabilities_restricted: container "web" must not add capabilities "SYS_ADMIN"',
    ]);
  });

  it('reports a hostPath volume under baseline and under restricted volume types', () => {
    expect(after((p) => { p.spec.volumes![0] = { name: 'app-logs', hostPath: { path: '/var/log' } }; })).toEqual([
      'hostPathVolumes: volume "app-logs" must not use hostPath',
      'restrictedVolumes: volume "app-logs" must not use volume type "hostPath"',
    ]);
  });

  it('reports Unconfined seccomp on a container under baseline and restricted', () => {
    expect(after((p) => { sc(web(p)).seccompProfile = { type: 'Unconfined' }; })).toEqual([
      'seccompProfile_baseline: container "web" must not set seccompProfile.type "Unconfined"',
      'seccompProfile_restricted: container "web" must not set seccompProfile.type "Unconfined"',
    ]);
  });

  it('reports Unconfined seccomp at pod level under baseline and restricted, naming containers left uncovered', () => {
    expect(after((p) => { podSc(p).seccompProfile = { type: 'Unconfined' }; })).toEqual([
      'seccompProfile_baseline: pod must not set seccompProfile.type "Unconfined"',
      'seccompProfile_restricted: pod must not set seccompProfile.type "Unconfined"',
      'seccompProfile_restricted: container "web" must set seccompProfile.type to "RuntimeDefault" or "Localhost" (or the pod must)',
      'seccompProfile_restricted: container "worker" must set seccompProfile.type to "RuntimeDefault" or "Localhost" (or the pod must)',
    ]);
  });

  describe('pod-level inheritance', () => {
    it('runAsNonRoot: the pod covers containers that leave it unset; otherwise each container must set it', () => {
      expect(after((p) => { delete podSc(p).runAsNonRoot; })).toEqual([
        'runAsNonRoot: container "web" must set securityContext.runAsNonRoot=true (or the pod must)',
        'runAsNonRoot: container "worker" must set securityContext.runAsNonRoot=true (or the pod must)',
      ]);
      expect(after((p) => {
        delete podSc(p).runAsNonRoot;
        for (const c of p.spec.containers) sc(c).runAsNonRoot = true;
      })).toEqual([]);
      expect(after((p) => {
        podSc(p).runAsNonRoot = false;
        for (const c of p.spec.containers) sc(c).runAsNonRoot = true;
      })).toEqual(['runAsNonRoot: pod must not set securityContext.runAsNonRoot=false']);
    });

    it('seccomp: a container-level RuntimeDefault or Localhost stands in for a missing pod-level one', () => {
      expect(after((p) => {
        delete podSc(p).seccompProfile;
        sc(web(p)).seccompProfile = { type: 'Localhost', localhostProfile: 'profiles/web.json' };
      })).toEqual(['seccompProfile_restricted: container "worker" must set seccompProfile.type to "RuntimeDefault" or "Localhost" (or the pod must)']);
    });

    it('checks init and ephemeral containers too', () => {
      expect(after((p) => {
        p.spec.initContainers = [{ name: 'sidelog-agent', image: 'x', restartPolicy: 'Always', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }];
        p.spec.ephemeralContainers = [{ name: 'debugger', image: 'busybox', securityContext: { runAsNonRoot: false } }];
      })).toEqual([
        'allowPrivilegeEscalation: ephemeralContainer "debugger" must set securityContext.allowPrivilegeEscalation=false',
        'runAsNonRoot: ephemeralContainer "debugger" must not set securityContext.runAsNonRoot=false',
        'capabilities_restricted: ephemeralContainer "debugger" must set securityContext.capabilities.drop=["ALL"]',
      ]);
    });

    it('does not require the Linux-only controls of a pod declaring spec.os.name=windows', () => {
      expect(after((p) => {
        p.spec.os = { name: 'windows' };
        delete podSc(p).seccompProfile;
        delete sc(web(p)).capabilities;
        delete sc(web(p)).allowPrivilegeEscalation;
      })).toEqual([]);
    });
  });
});
