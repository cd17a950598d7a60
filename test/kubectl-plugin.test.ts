/**
 * The kubectl plugin for real: `kubectl-sidelog` (package.json bin) on PATH, run through the
 * installed `kubectl`, which hands the plugin its flags untouched: `--kubeconfig`, `--context`
 * and `-n` are the plugin's to read.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'sidelog-plugin-'));
const binDir = join(dir, 'bin');
const kubeconfig = join(dir, 'kubeconfig');
const pod = join(dir, 'pod.yaml');

beforeAll(() => {
  // Installed as npm installs a bin: a link named after the bin entry, on PATH.
  spawnSync('mkdir', [binDir]);
  symlinkSync(join(ROOT, pkg.bin['kubectl-sidelog']!), join(binDir, 'kubectl-sidelog'));
  const cluster = { name: 'c', cluster: { server: 'https://127.0.0.1:1' } };
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [cluster],
      users: [{ name: 'u', user: {} }],
      contexts: [
        { name: 'team-a', context: { cluster: 'c', user: 'u', namespace: 'team-a' } },
        { name: 'payments', context: { cluster: 'c', user: 'u', namespace: 'payments' } },
        { name: 'bare', context: { cluster: 'c', user: 'u' } },
      ],
      'current-context': 'team-a',
    }),
  );
  // examples/pod.yaml without its namespace: the namespace comes from kubectl's flags.
  writeFileSync(pod, readFileSync(join(ROOT, 'examples/pod.yaml'), 'utf8').replace(/^ {2}namespace: .*\n/m, ''));
});

function kubectl(args: string[], env: Record<string, string> = {}) {
  const PATH = [binDir, dirname(process.execPath), process.env.PATH].join(delimiter);
  const r = spawnSync('kubectl', args, { cwd: ROOT, encoding: 'utf8', timeout: 30000, env: { HOME: dir, PATH, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('kubectl sidelog', () => {
  it('is installed with the package and found by kubectl', () => {
    expect(pkg.bin['kubectl-sidelog']).toBe('bin/kubectl-sidelog.js');
    const r = kubectl(['plugin', 'list']);
    expect(r.stdout).toContain(join(binDir, 'kubectl-sidelog'));
  });

  it('answers --help naming itself kubectl sidelog', () => {
    const r = kubectl(['sidelog', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kubectl sidelog preview -f|--filename MANIFEST');
    expect(r.stdout).toContain('--context NAME');
    const sub = kubectl(['sidelog', 'preview', '--help']);
    expect([sub.status, sub.stdout.split('\n')[1]]).toEqual([0, expect.stringMatching(/^ {2}kubectl sidelog preview /)]);
  });

  it.each([
    ['the current context of --kubeconfig', ['--kubeconfig', kubeconfig], {}, 'team-a'],
    ['--context', ['--kubeconfig', kubeconfig, '--context', 'payments'], {}, 'payments'],
    ['--context=NAME', ['--context=payments', `--kubeconfig=${kubeconfig}`], {}, 'payments'],
    ['KUBECONFIG', [], { KUBECONFIG: kubeconfig }, 'team-a'],
    ['-n over the context', ['--kubeconfig', kubeconfig, '-n', 'team-b'], {}, 'team-b'],
    ['--namespace over the context', ['--kubeconfig', kubeconfig, '--context', 'payments', '--namespace', 'team-b'], {}, 'team-b'],
    ['a context without a namespace', ['--kubeconfig', kubeconfig, '--context', 'bare'], {}, 'default'],
    ['no kubeconfig at all', [], {}, 'default'],
  ])('preview takes the namespace from %s', (_what, flags, env, namespace) => {
    const r = kubectl(['sidelog', 'preview', '-f', pod, ...flags], env);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const out = JSON.parse(r.stdout);
    expect(out.namespace).toBe(namespace);
    expect(out.pod.metadata.namespace).toBe(namespace);
  });

  it.each([
    ['--kubeconfig and --context', ['--kubeconfig', kubeconfig, '--context', 'payments', 'preview'], 'payments'],
    ['-n', ['-n', 'team-b', 'preview', '--kubeconfig', kubeconfig], 'team-b'],
    ['--namespace=NS', ['--namespace=team-c', 'preview', '--kubeconfig', kubeconfig], 'team-c'],
  ])('accepts %s before the command, as kubectl users type them', (_what, args, namespace) => {
    const r = kubectl(['sidelog', ...args, '-f', pod]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const out = JSON.parse(r.stdout);
    expect(out.namespace).toBe(namespace);
    expect(out.pod.metadata.namespace).toBe(namespace);
  });

  it('prints the mutated manifest with -o yaml', () => {
    const r = kubectl(['sidelog', 'preview', '-f', pod, '-o', 'yaml', '--kube-version', '1.30', '--kubeconfig', kubeconfig]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('sidelog.io/status');
    expect(r.stdout).toContain('name: sidelog-agent');
  });

  it('fails with one line naming itself on an unknown context', () => {
    const r = kubectl(['sidelog', 'preview', '-f', pod, '--kubeconfig', kubeconfig, '--context', 'nope']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('kubectl sidelog preview: --context: no context "nope" in the kubeconfig (contexts: team-a, payments, bare)\n');
  });
});
