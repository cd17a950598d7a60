/**
 * The documentation holds together: every relative link in the README and docs/ leads to a file
 * that exists and, with a `#fragment`, to a heading that exists there (GitHub's anchor rules).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const FILES = ['README.md', 'examples/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
/** Pages other parts of sidelog add (linked from the README already); a link to them may dangle until they land. */
const PENDING = new Set(['docs/pipelines.md', 'docs/capacity.md', 'docs/skip-codes.md', 'docs/admission-safety.md', 'docs/audit.md']);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return out;
}

describe.each(FILES)('%s', (file) => {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const link of links) {
      const [path, fragment] = link.split('#') as [string, string | undefined];
      const target = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
      const name = relative(ROOT, target);
      if (!existsSync(target)) {
        if (!PENDING.has(name)) broken.push(`${link}: no file ${name}`);
        continue;
      }
      if (fragment !== undefined && statSync(target).isFile() && !anchors(readFileSync(target, 'utf8')).has(fragment)) broken.push(`${link}: no heading #${fragment} in ${name}`);
    }
    expect(broken).toEqual([]);
  });
});

it('the README links every page under docs/', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
  expect(pages.filter((p) => !readme.includes(`(docs/${p}`))).toEqual([]);
  for (const p of PENDING) expect(readme).toContain(`(${p})`);
});

it('examples/README.md lists every example', () => {
  const index = readFileSync(join(ROOT, 'examples/README.md'), 'utf8');
  const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml') && f !== 'policy.yaml');
  expect(examples.filter((f) => !index.includes(`](${f})`))).toEqual([]);
});
