/**
 * Issue 8, "linear-time matching, the agents' regex engine": pod regexes are checked by Oniguruma
 * in the syntax of the agent that runs them (Ruby's stricter rules for Fluentd), and admin
 * podParams patterns are matched by RE2. Every example from the issue, then fuzzing of both checks.
 */
import fc from 'fast-check';
import { parseStreams } from '../../webhook/core/annotations.js';
import { paramAllowed, parsePolicy } from '../../webhook/core/policy.js';
import { problemText } from '../../webhook/core/problems.js';
import { RegexEngineNotLoaded, agentRegexError, forgetRegexEngineForTests, loadRegexEngine, onigurumaError, regexEngineLoaded, rubyRegexpError, withRegexEngine } from '../../webhook/core/regex.js';
import { PARSER_REGEX } from '../../sidecar-templates/fluent-bit/parsers.js';
import { MULTILINE_BODY, MULTILINE_FIRSTLINE } from '../../sidecar-templates/fluentd/parsers.js';
import { mutateChecked as mutate } from '../helpers/checked.js';
import { basePod, withAnnotations } from '../helpers/fixtures.js';

const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 300);
const v130 = { major: 1, minor: 30 };
const stdoutPolicy = parsePolicy('outputs: {stdout: {type: stdout}}\nnamespaces: {"*": {outputs: [stdout]}}\n');

/** The patterns that both agents refuse. */
const BOTH_REFUSE = ['\\c', '[a-\\d]', '\\8', '^(?<m>a)\\1{2}$', '[]', '[^]', '\\u12', '^(?<m>.*){2147483648}$'];

function regexProblems(regex: string): string[] {
  const text = `- {path: /var/log/app/a.log, container: web, output: stdout, parser: regex, regex: ${JSON.stringify(regex)}}`;
  return parseStreams(text).problems.map(problemText);
}

function inject(regex: string, agent: 'fluent-bit' | 'fluentd') {
  const streams = `- {path: /var/log/app/a.log, container: web, output: stdout, parser: regex, regex: ${JSON.stringify(regex)}}\n- {path: /var/log/app/b.log, container: web, output: stdout}`;
  return mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams, 'sidelog.io/agent': agent }), namespace: 'team-a', policy: stdoutPolicy, kubeVersion: v130 });
}

describe('pod regexes, checked by the agents\' engine', () => {
  it.each(BOTH_REFUSE)('%s is refused for both agents, naming the field', (regex) => {
    expect(agentRegexError(regex, 'fluent-bit')).toMatch(/refuses it/);
    expect(agentRegexError(regex, 'fluentd')).toMatch(/refuses it/);
    expect(regexProblems(regex)).toEqual([expect.stringMatching(/^sidelog\.io\/streams\[0\]\.regex: the agents' regex engine \(Onigmo, Ruby syntax\) refuses it: /)]);
  });

  it('names the engine\'s own reason', () => {
    expect(onigurumaError('^(?<m>a)\\1{2}$')).toBe('numbered backref/call is not allowed. (use name)');
    expect(onigurumaError('^(?<m>.*){2147483648}$')).toBe('too big number for repeat range');
    expect(onigurumaError('[]')).toBe('empty char-class');
    expect(onigurumaError('(?<m>.*)')).toBeUndefined();
  });

  it('takes a bare \\x for Fluent Bit and refuses it for Fluentd (Ruby is stricter)', () => {
    const regex = '^(?<m>.*)\\x$';
    expect(agentRegexError(regex, 'fluent-bit')).toBeUndefined();
    expect(agentRegexError(regex, 'fluentd')).toBe('Fluentd (Ruby) refuses it: invalid hex escape');

    const fb = inject(regex, 'fluent-bit');
    expect(fb.injection?.streams.map((s) => s.name)).toEqual(['a', 'b']);
    expect(fb.warnings).toEqual([]);

    const fd = inject(regex, 'fluentd');
    expect(fd.injection?.streams.map((s) => s.name)).toEqual(['b']);
    expect(fd.warnings).toEqual(['sidelog: sidelog.io/streams[0].regex: Fluentd (Ruby) refuses it: invalid hex escape']);
    expect(fd.configs[0]!.text).not.toContain('\\x');
  });

  it('refuses for Fluentd in a required namespace, naming the field', () => {
    const streams = '- {path: /var/log/app/a.log, container: web, output: stdout, parser: regex, regex: "(?<m>.*)\\\\u{110000}"}';
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams, 'sidelog.io/agent': 'fluentd' }), namespace: 'team-a', policy: stdoutPolicy, enforcement: 'required', kubeVersion: v130 });
    expect(r.allowed).toBe(false);
    expect(r.denial).toMatch(/^sidelog: sidelog\.io\/streams\[0\]\.regex: /);
  });

  it.each([
    ['\\x', 'invalid hex escape'],
    ['a\\xZ', 'invalid hex escape'],
    ['\\xFF', 'invalid multibyte escape'],
    ['\\xC3', 'too short escaped multibyte character'],
    ['\\M-a', 'too short escaped multibyte character'],
    ['\\M', 'too short meta escape'],
    ['\\C', 'too short control escape'],
    ['\\c', 'too short control escape'],
    ['\\u12', 'invalid Unicode escape'],
    ['\\uD800', 'invalid Unicode range'],
    ['\\u{}', 'invalid Unicode list'],
    ['\\u{1234567}', 'invalid Unicode range'],
    ['\\u{41', 'invalid Unicode list'],
    ['\\400', 'invalid escape code'],
    ['a\\', 'too short escape sequence'],
  ])('Ruby refuses %s: %s', (pattern, message) => {
    expect(rubyRegexpError(pattern)).toBe(message);
  });

  it.each(['\\x41', '\\xC3\\xA9', '\\u00e9', '\\u{41 42}', '\\cA', '\\C-a', '\\0', '\\101', '\\1', '\\d\\w\\s\\h', '\\p{Alpha}', '(?#\\x)a', '[\\x41-\\x5a]'])(
    'Ruby takes %s',
    (pattern) => {
      expect(rubyRegexpError(pattern)).toBeUndefined();
    },
  );

  it('refuses a pattern Fluent Bit would read as /pattern/flags (one meaning per pattern)', () => {
    for (const p of ['/(?<m>.*)/', '/var/log/x', '/(?<m>a)/im']) expect(agentRegexError(p, 'fluent-bit')).toMatch(/reads as delimiters and flags/);
    for (const p of ['\\/(?<m>.*)/', '/var/log/(?<m>.*)', '(?<m>a)/']) expect(agentRegexError(p, 'fluent-bit')).toBeUndefined();
  });
});

describe('sidelog\'s own regexes', () => {
  it.each(Object.entries(PARSER_REGEX))('Fluent Bit takes the %s parser', (_name, regex) => {
    expect(agentRegexError(regex, 'fluent-bit')).toBeUndefined();
  });
  it.each([...Object.entries(MULTILINE_FIRSTLINE), ['body', MULTILINE_BODY]])('Fluentd takes the %s multiline pattern', (_name, literal) => {
    // Written as Fluentd's /.../ literal; Fluentd compiles what is between the slashes.
    expect(literal).toMatch(/^\/.*\/$/);
    expect(agentRegexError(literal.slice(1, -1), 'fluentd')).toBeUndefined();
  });
});

describe('admin podParams patterns, matched by RE2', () => {
  const policyWith = (pattern: string) =>
    `outputs:\n  k: {type: kafka, brokers: ["k:9092"], podParams: {topic: {pattern: ${JSON.stringify(pattern)}}}}\nnamespaces: {"*": {outputs: [k]}}\n`;

  it('matches the issue\'s catastrophic pattern in linear time: the 11 s input, and one ten times longer, simply do not match', () => {
    const policy = parsePolicy(policyWith('{namespace}(\\.([a-z]+)*)*'));
    const rule = policy.outputs.k!.podParams.topic!;
    // With a backtracking engine the first takes ~11 s and each extra `a` doubles it: the second would never end.
    expect(paramAllowed(`team-a.${'a'.repeat(27)}-`, rule, 'team-a')).toBe(false);
    expect(paramAllowed(`team-a.${'a'.repeat(240)}-`, rule, 'team-a')).toBe(false);
    expect(paramAllowed('team-a.orders.eu', rule, 'team-a')).toBe(true);
    expect(paramAllowed('team-b.orders', rule, 'team-a')).toBe(false);

    const streams = `- {path: /var/log/app/a.log, container: web, output: k, params: {topic: "team-a.${'a'.repeat(240)}-"}}`;
    const r = mutate({ object: withAnnotations(basePod(), { 'sidelog.io/streams': streams }), namespace: 'team-a', policy, kubeVersion: v130 });
    expect(r.warnings[0]).toMatch(/^sidelog: sidelog\.io\/streams\[0\]\.params\.topic: .* is not allowed by output "k"/);
  });

  it.each([
    ['{namespace}\\.(a)\\1', 'invalid escape sequence'],
    ['{namespace}\\.(?=x)', 'invalid or unsupported Perl syntax'],
    ['{namespace}\\.(?<!x)a', 'invalid named capture'],
    ['{namespace}\\.a{1001}', 'invalid repeat count'],
  ])('refuses %s at policy load, naming the field', (pattern, reason) => {
    expect(() => parsePolicy(policyWith(pattern))).toThrow(/outputs\.k\.podParams\.topic\.pattern: is not a regular expression sidelog can match in linear time/);
    expect(() => parsePolicy(policyWith(pattern))).toThrow(new RegExp(reason.replace(/[()]/g, '\\$&')));
  });

  it('fills {namespace} in as a literal', () => {
    expect(paramAllowed('teamXa', { pattern: '{namespace}' }, 'team.a')).toBe(false);
    expect(paramAllowed('team.a', { pattern: '{namespace}' }, 'team.a')).toBe(true);
  });
});

describe('fuzzing the checks', () => {
  /** Regexes from a small grammar of constructs both engines take. */
  const atom: fc.Arbitrary<string> = fc.constantFrom('a', 'b', '\\.', '.', '[a-z]', '[^ ]', '\\d', '\\w', '\\s', '\\x41', '\\u00e9', '\\t', 'é', '-', ':', '(?:x|y)', '\\[', '\\]');
  const quantifier = fc.constantFrom('', '', '*', '+', '?', '{2}', '{1,3}', '*?');
  const piece = fc.tuple(atom, quantifier).map(([a, q]) => a + q);
  const body = fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
  const valid = fc.tuple(body, body, fc.boolean()).map(([a, b, anchored]) => `${anchored ? '^' : ''}(?<first>${a}) (?<second>${b})${anchored ? '$' : ''}`);

  it('never throws, and Fluentd refuses everything Fluent Bit refuses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: fc.constantFrom('\\', 'x', 'u', '{', '}', '(', ')', '[', ']', '?', '<', '>', '1', '8', 'c', 'M', '-', '*', 'a'), maxLength: 24 }).map(String)), (pattern) => {
        const fb = agentRegexError(pattern, 'fluent-bit');
        const fd = agentRegexError(pattern, 'fluentd');
        if (fb !== undefined) expect(fd).toBeDefined();
        expect(agentRegexError(pattern, 'fluent-bit')).toBe(fb); // deterministic
      }),
      { numRuns: NUM_RUNS * 5 },
    );
  });

  it('accepts every grammar regex for both agents', () => {
    fc.assert(
      fc.property(valid, (pattern) => {
        expect(agentRegexError(pattern, 'fluent-bit')).toBeUndefined();
        expect(agentRegexError(pattern, 'fluentd')).toBeUndefined();
        expect(regexProblems(pattern)).toEqual([]);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('refuses every grammar regex with one of the issue\'s bad fragments in it', () => {
    // Placed where the following character cannot complete the fragment (`\c)` and `\u12a` are valid escapes).
    const bad = fc.constantFrom('[]', '[^]', '[a-\\d]', '(?:\\8)', '(?:\\u12)', '(?<n>a)\\1', 'a{2147483648}');
    fc.assert(
      fc.property(valid, bad, fc.nat(), (pattern, fragment, at) => {
        const cut = at % (pattern.length + 1);
        const p = `${pattern.slice(0, cut)}(?:${fragment})${pattern.slice(cut)}`;
        if (/\\$/.test(pattern.slice(0, cut)) || /\[[^\]]*$/.test(pattern.slice(0, cut))) return; // inside an escape or a class
        expect(agentRegexError(p, 'fluent-bit')).toBeDefined();
        expect(agentRegexError(p, 'fluentd')).toBeDefined();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('refuses a bare \\x anywhere for Fluentd only', () => {
    fc.assert(
      fc.property(valid, fc.nat(), (pattern, at) => {
        const pieces = pattern.split(' ');
        const p = `${pieces[0]}(?:\\x${at % 2 ? 'z' : ''}) ${pieces.slice(1).join(' ')}`;
        expect(agentRegexError(p, 'fluent-bit')).toBeUndefined();
        expect(agentRegexError(p, 'fluentd')).toBe('Fluentd (Ruby) refuses it: invalid hex escape');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('RE2 answers as a backtracking engine would, on inputs short enough for one', () => {
    const patternAtom = fc.constantFrom('a', 'b', '\\.', '[a-z]', '[0-9]', '.', '(a|b)', '(\\.[a-z]+)', '([a-z]+)');
    const patternPiece = fc.tuple(patternAtom, fc.constantFrom('', '*', '+', '?')).map(([a, q]) => a + q);
    const pattern = fc.array(patternPiece, { minLength: 1, maxLength: 5 }).map((p) => `{namespace}${p.join('')}`);
    const value = fc.string({ unit: fc.constantFrom('a', 'b', '.', '-', '1', 't', 'e', 'm'), maxLength: 14 }).map((v) => `team-a${v}`);
    fc.assert(
      fc.property(pattern, value, (p, v) => {
        const js = new RegExp(`^(?:${p.replaceAll('{namespace}', 'team-a')})$`).test(v);
        expect(paramAllowed(v, { pattern: p }, 'team-a')).toBe(js && !v.includes('..'));
      }),
      { numRuns: NUM_RUNS * 3 },
    );
  });
});

describe('the regex engine, loaded on first need', () => {
  afterEach(() => loadRegexEngine());

  it('refuses to check a pattern before it is loaded, rather than calling it invalid', () => {
    forgetRegexEngineForTests();
    expect(regexEngineLoaded()).toBe(false);
    expect(() => onigurumaError('(?<message>.*)')).toThrow(RegexEngineNotLoaded);
    // Through the core too: a stream with a regex throws, it is not answered as a bad regex.
    expect(() => parseStreams('- path: /var/log/a/a.log\n  parser: regex\n  regex: "(?<message>.*)"\n')).toThrow(RegexEngineNotLoaded);
    // A stream without a regex needs no engine.
    expect(parseStreams('- path: /var/log/a/a.log\n').problems).toEqual([]);
  });

  it('withRegexEngine answers synchronously when the work needs no engine, and loads then runs again when it does', async () => {
    forgetRegexEngineForTests();
    expect(withRegexEngine(() => 42)).toBe(42);
    let runs = 0;
    let loads = 0;
    const work = () => {
      runs++;
      return onigurumaError('(?<message>[a-');
    };
    // Concurrent callers share one load; only the caller that started it hears of it.
    const all = [withRegexEngine(work, () => loads++), withRegexEngine(work, () => loads++), withRegexEngine(work, () => loads++)];
    expect(all.every((r) => r instanceof Promise)).toBe(true);
    const answers = await Promise.all(all);
    expect(answers).toEqual([expect.stringContaining('premature end of char-class'), expect.any(String), expect.any(String)]);
    expect(new Set(answers).size).toBe(1);
    expect(runs).toBe(6);
    expect(loads).toBe(1);
    expect(regexEngineLoaded()).toBe(true);
    // Loaded: synchronous again.
    expect(withRegexEngine(work, () => loads++)).toBe(answers[0]);
    expect(loads).toBe(1);
  });

  it('passes on errors that are not about the engine, without loading it', () => {
    forgetRegexEngineForTests();
    expect(() =>
      withRegexEngine(() => {
        throw new TypeError('a bug');
      }),
    ).toThrow(TypeError);
    expect(regexEngineLoaded()).toBe(false);
  });
});
