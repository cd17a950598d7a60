/**
 * The streaming sidecar's script, run for real with this machine's POSIX sh and tail: it waits for
 * the file, prints it from the first line, follows appends and rotation, treats the path as data
 * (no injection), and exits promptly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STREAMING_PATH_ENV, STREAMING_SCRIPT, renderStreaming } from '../sidecar-templates/streaming/index.js';

function follow(path: string) {
  const child = spawn('sh', ['-c', STREAMING_SCRIPT], { env: { PATH: process.env.PATH, [STREAMING_PATH_ENV]: path } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const waitFor = async (text: string, ms = 5000) => {
    const until = Date.now() + ms;
    while (!out.includes(text) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (!out.includes(text)) throw new Error(`no "${text}" in ${JSON.stringify(out)}`);
  };
  return { child, out: () => out, waitFor, exited };
}

describe('streaming sidecar script', () => {
  it('waits for the file, prints from the first line, follows appends and rotation, exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidelog-stream-'));
    const file = join(dir, 'app.log');
    const f = follow(file);
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(file, 'first\nsecond\n');
    await f.waitFor('second\n');
    appendFileSync(file, 'third\n');
    await f.waitFor('third\n');
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'after rotation\n');
    await f.waitFor('after rotation\n', 8000);
    const started = Date.now();
    f.child.kill('SIGTERM');
    expect(await f.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(f.out().startsWith('first\nsecond\nthird\n')).toBe(true);
  });

  it('follows every file a glob matches, without headers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidelog-glob-'));
    writeFileSync(join(dir, 'a.log'), 'from a\n');
    writeFileSync(join(dir, 'b.log'), 'from b\n');
    writeFileSync(join(dir, 'c.txt'), 'not me\n');
    const f = follow(join(dir, '*.log'));
    await f.waitFor('from b\n');
    await f.waitFor('from a\n');
    f.child.kill('SIGTERM');
    await f.exited;
    expect(f.out()).not.toContain('not me');
    expect(f.out()).not.toContain('==>');
  });

  it('passes the path as data: shell syntax in it is never run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidelog-inj-'));
    const marker = join(dir, 'pwned');
    const f = follow(`${dir}/x.log;touch ${marker}`);
    await new Promise((r) => setTimeout(r, 1500));
    f.child.kill('SIGTERM');
    await f.exited;
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(false);
  });

  it('carries the path in the env, not in the script', () => {
    const c = renderStreaming({ index: 0, name: 'app', container: 'web', appPath: '/var/log/app/app.log', sidecarPath: '/sidelog/logs/v/app.log' }, 'busybox:1.37');
    expect(c.command).toEqual(['sh', '-c', STREAMING_SCRIPT]);
    expect(c.env).toEqual([{ name: STREAMING_PATH_ENV, value: '/sidelog/logs/v/app.log' }]);
    expect(STREAMING_SCRIPT).not.toContain('/sidelog/logs');
  });
});
