/**
 * `sidelog preview`, run as a user runs it (node bin/sidelog.js): offline, on files or stdin,
 * one line naming the file and field on bad input, a non-zero exit, nothing on stdout then.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isNode, parse as parseYaml, parseAllDocuments, parseDocument, visit } from 'yaml';
import { COMMANDS, FLAGS, USAGES } from '../webhook/cli.js';

const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'sidelog-cli-'));

function sidelog(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sidelog.js'), ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The `--flags` docs/cli.md shows on the lines of one command's synopsis. */
function docFlags(command: string): Set<string> {
  const text = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
  const block = /```\n(sidelog [\s\S]*?)```/.exec(text)![1]!;
  const mine = block.split(/\n(?=sidelog )/).find((b) => b.startsWith(`sidelog ${command} `)) ?? '';
  return new Set(mine.match(/--[a-z][a-z-]*/g));
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

  it('reads several documents and Lists from stdin; a List in gives a List out', () => {
    const deployment = sidelog(['preview', '-f', 'test/golden/cases/workload-deployment/input.yaml', '-o', 'yaml']).stdout;
    const input = `${deployment}---\n${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'c' }] } }] })}\n`;
    const r = sidelog(['preview', '-f', '-', '-o', 'yaml', '--policy', 'test/golden/policy.yaml'], input);
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'List']);
    expect(docs[1].apiVersion).toBe('v1');
    expect(docs[1].items.map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`)).toEqual(['Pod/p']);
  });

  it('injects into every item of a List and keeps it a List', () => {
    const pod = parseYaml(readFileSync(join(ROOT, 'examples/pod.yaml'), 'utf8'));
    const list = { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [pod, { ...pod, metadata: { ...pod.metadata, name: 'shop-2' } }] };
    const r = sidelog(['preview', '-f', file('list.yaml', JSON.stringify(list)), '-o', 'yaml']);
    expect(r.status).toBe(0);
    const out = parseYaml(r.stdout);
    expect(out.kind).toBe('List');
    expect(out.metadata).toEqual({ resourceVersion: '' });
    expect(out.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['shop', 'shop-2']);
    for (const item of out.items) expect(item.metadata.annotations['sidelog.io/status']).toBeDefined();
    // JSON: one labelled result per item.
    const json = JSON.parse(sidelog(['preview', '-f', join(dir, 'list.yaml')]).stdout);
    expect(json.map((x: { label: string }) => x.label)).toEqual([`${join(dir, 'list.yaml')} (item 1)`, `${join(dir, 'list.yaml')} (item 2)`]);
  });

  it('passes objects without pods through unchanged in a multi-document file', () => {
    const service = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\nspec:\n  selector: {app: shop}\n  ports: [{port: 80}]\n';
    const config = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop}\ndata: {a: "1"}\n';
    const input = `${service}---\n${readFileSync(join(ROOT, 'examples/pod.yaml'), 'utf8')}---\n${config}`;
    const r = sidelog(['preview', '-f', '-', '-o', 'yaml'], input);
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['Service', 'Pod', 'ConfigMap']);
    expect(docs[0]).toEqual(parseYaml(service));
    expect(docs[2]).toEqual(parseYaml(config));
    expect(docs[1].metadata.annotations['sidelog.io/status']).toBeDefined();
    const json = JSON.parse(sidelog(['preview', '-f', '-'], input).stdout);
    expect(json.map((x: { kind: string; patch: unknown[] }) => [x.kind, x.patch.length > 0])).toEqual([['Service', false], ['Pod', true], ['ConfigMap', false]]);
    expect(json[0].skipReason).toBe('kind Service has no pods: passed through unchanged');
  });

  it('says which document each warning belongs to', () => {
    const bad = readFileSync(join(ROOT, 'test/golden/cases/invalid-enabled-partial/input.yaml'), 'utf8');
    const good = readFileSync(join(ROOT, 'examples/pod.yaml'), 'utf8');
    const r = sidelog(['preview', '-f', '-', '-o', 'yaml', '--policy', 'test/golden/policy.yaml'], `${good}---\n${bad}`);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('Warning: stdin (document 2): sidelog: sidelog.io/streams[0].path: must be absolute\n');
    expect(r.stderr).not.toContain('(document 1)');
    const f = file('two.yaml', `${bad}---\n${good}`);
    expect(sidelog(['preview', '-f', f, '-o', 'yaml', '--policy', 'test/golden/policy.yaml']).stderr).toContain(`Warning: ${f} (document 1): sidelog: sidelog.io/streams[0].path: must be absolute\n`);
  });

  it('prints plain YAML: no anchors, no aliases', () => {
    // Two streaming sidecars share their resources and security context objects in memory.
    const pod = parseYaml(readFileSync(join(ROOT, 'test/golden/cases/streaming-glob/input.yaml'), 'utf8'));
    pod.metadata.annotations['sidelog.io/streams'] = '- path: /var/log/app/a.log\n- path: /var/log/app/b.log\n- path: /var/log/app/c.log\n';
    const r = sidelog(['preview', '-f', file('three.yaml', JSON.stringify(pod)), '-o', 'yaml', '--kube-version', '1.30']);
    expect(r.status).toBe(0);
    const doc = parseDocument(r.stdout);
    let aliases = 0;
    let anchors = 0;
    visit(doc, { Alias: () => void aliases++, Node: (_, n) => void (isNode(n) && n.anchor ? anchors++ : 0) });
    expect([aliases, anchors]).toEqual([0, 0]);
    expect(doc.toJS().spec.initContainers).toHaveLength(3);
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
    [['preview', '-f', 'examples/pod.yaml', '-o', 'xml'], /^sidelog preview: -o must be json or yaml, not xml$/],
    [['preview', '-f', 'examples/pod.yaml', '--kube-version', 'new'], /^sidelog preview: --kube-version must look like 1\.30, not new$/],
    [['preview'], /^sidelog preview: -f MANIFEST is required/],
    [['preview', '-f', '@jobnorestart'], /^sidelog preview: .*jobnorestart\.yaml: spec\.template\.spec\.restartPolicy: a Job's pods must use OnFailure or Never/],
    [['certs', 'renew'], /^sidelog certs: use "certs ensure"/],
    [['certs', 'ensure', '--days', 'x'], /^sidelog certs: --days must be a whole number of days, not x$/],
    [['preview', '-f', 'examples/pod.yaml', '--context'], /^sidelog: --context needs a value$/],
    [['preview', '-f', 'examples/pod.yaml', '--colour'], /^sidelog preview: Unknown option '--colour'/],
  ])('%j fails with one line and a non-zero exit, printing nothing', (args, message) => {
    const files: Record<string, string> = {
      '@broken': file('broken.yaml', 'kind: Pod\nspec:\n  containers: [\n'),
      '@service': file('service.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n'),
      '@nodeploy': file('nodeploy.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n'),
      '@badpolicy': file('badpolicy.yaml', 'outputs:\n  k: {type: kafka}\n'),
      '@jobnorestart': file('jobnorestart.yaml', 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: c}]\n'),
    };
    const r = sidelog(args.map((a) => files[a] ?? a));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
    // One prefix: the command is named once (no `sidelog preview: preview: ...`).
    const [, command] = args;
    expect(r.stderr).not.toMatch(new RegExp(`^sidelog ${args[0]}: (${args[0]}|${command}):`));
  });

  it.each(Object.keys(COMMANDS))('%s --help prints its usage and exits 0', (command) => {
    for (const flag of ['--help', '-h']) {
      const r = sidelog([command, flag]);
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(new RegExp(`^Usage:\\n  sidelog ${command} `));
      expect(r.stdout).toContain('--kubeconfig FILE');
    }
    expect(sidelog(['help', command]).stdout).toBe(sidelog([command, '--help']).stdout);
  });

  it('--version prints the package version', () => {
    const r = sidelog(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`sidelog ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`);
  });

  it.each(Object.keys(COMMANDS))('the usage of %s lists every flag it accepts and every flag docs/cli.md documents for it', (command) => {
    const usage = USAGES[command]!;
    const inUsage = new Set(usage.match(/--[a-z][a-z-]*/g));
    const accepted = Object.keys(FLAGS[command]!).map((f) => `--${f}`);
    expect(accepted.filter((f) => !inUsage.has(f))).toEqual([]);
    expect([...inUsage].filter((f) => !accepted.includes(f))).toEqual([]);
    const documented = docFlags(command);
    expect(documented.size).toBeGreaterThan(0);
    expect([...documented].filter((f) => !inUsage.has(f) && f !== '--kubeconfig' && f !== '--context')).toEqual([]);
  });

  it('knows its commands', () => {
    const r = sidelog(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(sidelog(['--help']).stdout).toContain('sidelog preview -f|--filename MANIFEST');
  });
});
