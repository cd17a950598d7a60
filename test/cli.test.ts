/**
 * `sidelog preview`, run as a user runs it (node bin/sidelog.js): offline, on files or stdin,
 * one line naming the file and field on bad input, a non-zero exit, nothing on stdout then.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'sidelog-cli-'));

function sidelog(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sidelog.js'), ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('sidelog preview', () => {
  it('prints the mutated manifest as YAML with -o yaml', () => {
    const r = sidelog(['preview', '-f', 'examples/pod.yaml', '-o', 'yaml', '--kube-version', '1.30']);
    expect(r.status).toBe(0);
    const pod = parseYaml(r.stdout);
    expect(pod.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['sidelog-access', 'sidelog-agent']);
    expect(pod.metadata.annotations['sidelog.io/agent-config']).toContain('[OUTPUT]');
  });

  it('assumes classic sidecars when the cluster version is unknown', () => {
    const pod = parseYaml(sidelog(['preview', '-f', 'examples/pod.yaml', '-o', 'yaml']).stdout);
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.spec.containers.map((c: { name: string }) => c.name)).toEqual(['shop', 'sidelog-access', 'sidelog-agent']);
  });

  it('prints patch, mutated object, warnings and configs as JSON by default', () => {
    const r = sidelog(['preview', '-f', 'test/golden/cases/mixed-native/input.yaml', '--policy', 'test/golden/policy.yaml', '--kube-version', '1.30']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(expect.arrayContaining(['kind', 'name', 'namespace', 'allowed', 'patch', 'mutated', 'warnings', 'configs', 'injection']));
    expect(out.configs.map((c: { file: string }) => c.file)).toEqual(['fluent-bit.conf', 'parsers.conf']);
    expect(out.patch.some((op: { path: string }) => op.path === '/metadata/annotations/sidelog.io~1status')).toBe(true);
  });

  it('uses classic sidecars for an older cluster', () => {
    const r = sidelog(['preview', '-f', 'test/golden/cases/mixed-native/input.yaml', '--policy', 'test/golden/policy.yaml', '--kube-version', '1.28', '-o', 'yaml']);
    const pod = parseYaml(r.stdout);
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.spec.containers.map((c: { name: string }) => c.name)).toContain('sidelog-agent');
  });

  it('reads several documents and Lists from stdin', () => {
    const deployment = sidelog(['preview', '-f', 'test/golden/cases/workload-deployment/input.yaml', '-o', 'yaml']).stdout;
    const input = `${deployment}---\n${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'c' }] } }] })}\n`;
    const r = sidelog(['preview', '-f', '-', '-o', 'yaml', '--policy', 'test/golden/policy.yaml'], input);
    expect(r.status).toBe(0);
    expect(parseAllDocuments(r.stdout).map((d) => d.toJS().kind)).toEqual(['Deployment', 'Pod']);
  });

  it('prints warnings to stderr as kubectl would', () => {
    const r = sidelog(['preview', '-f', 'test/golden/cases/invalid-enabled-partial/input.yaml', '--policy', 'test/golden/policy.yaml', '-o', 'yaml']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('Warning: sidelog: sidelog.io/streams[0].path: must be absolute\n');
  });

  it('exits 3 when a required namespace would refuse the pod', () => {
    const r = sidelog(['preview', '-f', 'test/golden/cases/invalid-enabled-partial/input.yaml', '--policy', 'test/golden/policy.yaml', '--required']);
    expect(r.status).toBe(3);
    expect(JSON.parse(r.stdout).denial).toMatch(/^sidelog: sidelog\.io\/streams\[0\]\.path: must be absolute/);
  });

  it.each([
    [['preview', '-f', 'no/such.yaml'], /^sidelog preview: no\/such\.yaml: cannot read \(no such file\)$/],
    [['preview', '-f', '@broken'], /^sidelog preview: .*broken\.yaml: is not valid YAML or JSON \(line 4\)/],
    [['preview', '-f', '@service'], /^sidelog preview: .*service\.yaml: kind: Service cannot be previewed \(use one of Pod, Deployment/],
    [['preview', '-f', '@nodeploy'], /^sidelog preview: .*nodeploy\.yaml: spec\.template: required$/],
    [['preview', '-f', 'examples/pod.yaml', '--policy', '@badpolicy'], /^sidelog preview: .*badpolicy\.yaml: outputs\.k\.brokers: Invalid input: expected array, received undefined$/],
    [['preview', '-f', 'examples/pod.yaml', '-o', 'xml'], /^sidelog preview: preview: -o must be json or yaml, not xml$/],
    [['preview', '-f', 'examples/pod.yaml', '--kube-version', 'new'], /^sidelog preview: preview: --kube-version must look like 1\.30, not new$/],
    [['preview'], /^sidelog preview: preview: -f MANIFEST is required/],
    [['preview', '-f', 'examples/pod.yaml', '--colour'], /^sidelog preview: Unknown option '--colour'/],
  ])('%j fails with one line and a non-zero exit, printing nothing', (args, message) => {
    const files: Record<string, string> = {
      '@broken': file('broken.yaml', 'kind: Pod\nspec:\n  containers: [\n'),
      '@service': file('service.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n'),
      '@nodeploy': file('nodeploy.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n'),
      '@badpolicy': file('badpolicy.yaml', 'outputs:\n  k: {type: kafka}\n'),
    };
    const r = sidelog(args.map((a) => files[a] ?? a));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });

  it('knows its commands', () => {
    const r = sidelog(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(sidelog(['--help']).stdout).toContain('sidelog preview -f MANIFEST');
  });
});
