import { MAX_REGEX_CHARS, MAX_REGEX_CHARS_PER_POD, checkPath, parsePodOptions, parseStreams } from '../../webhook/core/annotations.js';
import { problemText } from '../../webhook/core/problems.js';

const texts = (annotation: string) => parseStreams(annotation).problems.map(problemText);

describe('sidelog.io/streams', () => {
  it('accepts YAML and JSON lists alike', () => {
    const yaml = parseStreams('- path: /var/log/app/app.log\n  output: stdout\n  critical: true\n');
    const json = parseStreams('[{"path": "/var/log/app/app.log", "output": "stdout", "critical": true}]');
    expect(yaml.problems).toEqual([]);
    expect(json.streams).toEqual(yaml.streams);
    expect(yaml.streams[0]).toMatchObject({ index: 0, mode: 'agent', spec: { path: '/var/log/app/app.log', output: 'stdout', critical: true } });
  });

  it('defaults the mode: agent when an output is named, else streaming', () => {
    const { streams } = parseStreams('- path: /var/log/a/a.log\n- path: /var/log/a/b.log\n  output: stdout\n');
    expect(streams.map((s) => s.mode)).toEqual(['streaming', 'agent']);
  });

  it.each([
    ['- path: var/log/app.log', 'sidelog.io/streams[0].path: must be absolute'],
    ['- path: /var/log/app/', 'sidelog.io/streams[0].path: must name a file, not a directory'],
    ['- path: /var/log/../etc/passwd', 'sidelog.io/streams[0].path: must not contain . or .. segments'],
    ['- path: /var/*/app.log', 'sidelog.io/streams[0].path: a glob is allowed only in the last segment'],
    ['- path: "/var/log/app/a b.log"', 'sidelog.io/streams[0].path: the file name may contain only letters, digits, . _ @ % + = : - and the globs * ? [ ]'],
    ['- path: /app.log', 'sidelog.io/streams[0].path: must be in a directory below / (sidelog mounts a volume on that directory)'],
    ['- path: /etc/app/app.log', 'sidelog.io/streams[0].path: must not be under /etc (sidelog mounts a log volume on the file\'s directory)'],
    ['- path: /var/run/secrets/kubernetes.io/serviceaccount/token', 'sidelog.io/streams[0].path: must not be under /var/run/secrets (sidelog mounts a log volume on the file\'s directory)'],
    ['- {path: /var/log/a.log, mode: agent}', 'sidelog.io/streams[0].output: required in agent mode: a name from the output catalog'],
    ['- {path: /var/log/a/a.log, critical: true}', 'sidelog.io/streams[0].critical: applies to agent mode only (streaming sidecars print the file to their own stdout)'],
    ['- {path: /var/log/a/a.log, output: x, parser: regex}', 'sidelog.io/streams[0].regex: required when parser is regex'],
    ['- {path: /var/log/a/a.log, output: x, parser: regex, regex: "(?<a>.*"}', "sidelog.io/streams[0].regex: the agents' regex engine (Onigmo, Ruby syntax) refuses it: end pattern with unmatched parenthesis"],
    ['- {path: /var/log/a/a.log, output: x, parser: regex, regex: ".*"}', 'sidelog.io/streams[0].regex: must have at least one named group, e.g. (?<message>.*)'],
    ['- {path: /var/log/a/a.log, output: x, parser: regex, regex: "(?<a>${HOME})"}', 'sidelog.io/streams[0].regex: must not contain ${ or #{'],
    ['- {path: /var/log/a/a.log, name: App_Log}', 'sidelog.io/streams[0].name: must be a DNS-1123 label (lower-case letters, digits, -) of at most 40 characters'],
    ['- {path: /var/log/a/a.log, output: x, params: {topic: "a b"}}', 'sidelog.io/streams[0].params.topic: must be 1-253 characters of letters, digits and . _ / : @ % + = - without ..'],
    ['- {path: /var/log/a/a.log, colour: red}', 'sidelog.io/streams[0].colour: unknown field'],
    ['- {path: /var/log/a/a.log, parser: yaml}', 'sidelog.io/streams[0].parser: Invalid option: expected one of "none"|"json"|"regex"|"nginx"|"apache"|"syslog"|"multiline-java"|"multiline-go"|"multiline-python"'],
    ['path: /var/log/a/a.log', 'sidelog.io/streams: must be a list of streams (- path: /var/log/app/app.log)'],
    ['[]', 'sidelog.io/streams: lists no streams'],
  ])('%s -> %s', (annotation, message) => {
    expect(texts(annotation)).toContain(message);
  });

  it('names the index of the broken stream and keeps the good ones', () => {
    const { streams, problems } = parseStreams('- path: /var/log/a/ok.log\n- path: relative.log\n- path: /var/log/a/fine.log\n');
    expect(streams.map((s) => s.index)).toEqual([0, 2]);
    expect(problems.map((p) => p.field)).toEqual(['sidelog.io/streams[1].path']);
  });

  it('refuses YAML it cannot read with a one-line reason', () => {
    const [problem] = texts('- path: [unclosed');
    expect(problem).toMatch(/^sidelog\.io\/streams: is not valid YAML or JSON \(/);
    expect(problem).not.toContain('\n');
  });

  it('refuses YAML aliases (billion laughs) and oversized annotations', () => {
    expect(texts('- &a {path: /var/log/a/a.log}\n- *a\n')[0]).toMatch(/not valid YAML/);
    expect(texts(`- path: /var/log/a/${'a'.repeat(70_000)}.log`)).toEqual(['sidelog.io/streams: must be at most 65536 bytes']);
  });

  it('caps the number of streams', () => {
    const many = Array.from({ length: 33 }, (_, i) => `- path: /var/log/a/${i}.log`).join('\n');
    expect(texts(many)).toEqual(['sidelog.io/streams: lists 33 streams; at most 32 are allowed']);
  });
});

describe("a pod's regexes together", () => {
  /** A regex stream of the given regex, as a JSON list item. */
  const item = (i: number, regex: string) => ({ path: `/var/log/s${i}/a.log`, output: 'stdout', parser: 'regex', regex });
  /** A valid regex of exactly `n` characters. */
  const sized = (n: number) => `(?<m>${'a'.repeat(n - 6)})`;

  it(`are compiled up to ${MAX_REGEX_CHARS_PER_POD} characters; the regexes past that are refused, naming the field, the others kept`, () => {
    const per = 300;
    const fit = Math.floor(MAX_REGEX_CHARS_PER_POD / per);
    const r = parseStreams(JSON.stringify(Array.from({ length: 32 }, (_, i) => item(i, sized(per)))));
    expect(r.streams.map((s) => s.index)).toEqual(Array.from({ length: fit }, (_, i) => i));
    expect(r.problems.map((p) => p.field)).toEqual(Array.from({ length: 32 - fit }, (_, i) => `sidelog.io/streams[${fit + i}].regex`));
    expect(problemText(r.problems[0]!)).toBe(`sidelog.io/streams[${fit}].regex: the pod's regexes would total ${(fit + 1) * per} characters; at most ${MAX_REGEX_CHARS_PER_POD} in one pod (each is compiled at admission): shorten them or use the json parser`);
  });

  it('refuse the costliest patterns to compile past the budget instead of compiling them', () => {
    // Case-insensitive Unicode classes with counted repeats: ~100 ms to compile each at 4,096 characters.
    let costly = '(?i)(?<m>';
    while (costly.length + 21 <= MAX_REGEX_CHARS) costly += '[\\p{L}\\p{N}]{1,100}';
    costly += ')';
    // As many as the annotation's 64 KB hold (12): before the budget, 1.2 s of compiling.
    const annotation = JSON.stringify(Array.from({ length: 12 }, (_, i) => item(i, costly)));
    expect(annotation.length).toBeLessThan(64 * 1024);
    const r = parseStreams(annotation);
    const fit = Math.floor(MAX_REGEX_CHARS_PER_POD / costly.length);
    expect(r.streams).toHaveLength(fit);
    expect(r.problems).toHaveLength(12 - fit);
    for (const p of r.problems) expect(p.message).toMatch(/^the pod's regexes would total \d+ characters/);
  });

  it('do not count a regex over the per-stream limit, which is refused for its own length', () => {
    const r = parseStreams(JSON.stringify([item(0, sized(MAX_REGEX_CHARS + 1)), item(1, sized(MAX_REGEX_CHARS)), item(2, sized(MAX_REGEX_CHARS))]));
    expect(r.problems.map(problemText)).toEqual([`sidelog.io/streams[0].regex: must be at most ${MAX_REGEX_CHARS} characters`]);
    expect(r.streams.map((s) => s.index)).toEqual([1, 2]);
  });
});

describe('checkPath', () => {
  it.each(['/var/log/app/app.log', '/var/log/app/*.log', '/data/logs/app-[0-9].log', '/srv/x/a:b@c.log'])('accepts %s', (p) => {
    expect(checkPath(p)).toBeUndefined();
  });
});

describe('pod options', () => {
  it.each([
    [{ 'sidelog.io/inject': 'false' }, true],
    [{ 'sidelog.io/inject': 'False ' }, true],
    [{ 'sidelog.io/inject': 'true' }, false],
    [{}, false],
  ])('%j opts out: %s', (annotations, optOut) => {
    expect(parsePodOptions(annotations).options.optOut).toBe(optOut);
  });

  it('names a bad agent', () => {
    expect(parsePodOptions({ 'sidelog.io/agent': 'vector' }).problems.map(problemText)).toEqual(['sidelog.io/agent: must be one of fluent-bit, fluentd']);
  });
});
