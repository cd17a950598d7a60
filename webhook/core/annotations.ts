/**
 * The pod annotations sidelog reads and writes: one documented constant each, and the parser for
 * the `sidelog.io/streams` list. Everything a pod says is validated here; nothing unvalidated
 * leaves this module.
 */
import { z } from 'zod';
import { memoize } from './memo.js';
import { isDns1123Label } from './names.js';
import { type Problem, fieldPath, zodProblems } from './problems.js';
import { bothAgentsRegexError } from './regex.js';
import { parseYamlDocument } from './yaml.js';

/** YAML or JSON list of streams (see README "Annotation reference"). Set by the pod author. */
export const STREAMS = 'sidelog.io/streams';
/** `fluent-bit` | `fluentd`: which agent runs the agent-mode streams. Set by the pod author. */
export const AGENT = 'sidelog.io/agent';
/** `"false"` opts the pod out. Set by the pod author. */
export const INJECT = 'sidelog.io/inject';
/** Sidecar resources requested by the pod, capped by the policy maxima. Set by the pod author. */
export const RESOURCES = 'sidelog.io/resources';
/** What sidelog injected (JSON). Written by sidelog; its presence makes re-invocation a no-op. */
export const STATUS = 'sidelog.io/status';
/** The generated agent config, projected into the agent sidecar by a downwardAPI volume. Written by sidelog. */
export const AGENT_CONFIG = 'sidelog.io/agent-config';
/** The generated Fluent Bit parsers file, projected like AGENT_CONFIG. Written by sidelog. */
export const AGENT_PARSERS = 'sidelog.io/agent-parsers';

export const PARSERS = [
  'none', 'json', 'regex', 'nginx', 'apache', 'syslog', 'multiline-java', 'multiline-go', 'multiline-python',
] as const;
export type ParserName = (typeof PARSERS)[number];

export const AGENTS = ['fluent-bit', 'fluentd'] as const;
export type AgentName = (typeof AGENTS)[number];

export const MODES = ['streaming', 'agent'] as const;
export type Mode = (typeof MODES)[number];

/** Largest annotation value sidelog will parse (the API server caps all annotations at 256 KiB). */
export const MAX_ANNOTATION_BYTES = 64 * 1024;
export const MAX_STREAMS = 32;
/** One stream's regex, in characters. */
export const MAX_REGEX_CHARS = 4096;
/**
 * A pod's regexes together, in characters. Each is compiled at admission (Oniguruma, on the event
 * loop that answers every review), and compiling costs up to ~25 µs a character: 4,096 characters
 * of case-insensitive Unicode classes with counted repeats took 97 ms, so 32 such streams would
 * hold the webhook for 3 s. Past this total a regex is refused before it is compiled: a pod's
 * regexes cost at most ~200 ms, what a review of the largest pod costs anyway.
 */
export const MAX_REGEX_CHARS_PER_POD = 2 * MAX_REGEX_CHARS;

/**
 * Characters allowed in a path segment. Deliberately narrow: no white space, quotes, `$`, `{`,
 * `#`, `\` or control characters can reach a generated config through a path, and no comma
 * (Fluent Bit's tail reads `Path a,b` as two paths).
 */
const SEGMENT = /^[A-Za-z0-9._@%+=:-]+$/;
const GLOB_SEGMENT = /^[A-Za-z0-9._@%+=:*?[\]-]+$/;
/** Directories sidelog refuses to cover with a new log volume: the container would break or leak. */
const FORBIDDEN_DIRS = ['/proc', '/sys', '/dev', '/etc', '/bin', '/sbin', '/usr', '/lib', '/lib64', '/boot', '/var/run/secrets', '/run/secrets'];

/** Pod parameters are plain tokens: they end up as config values (no comma: several plugins read a list). */
export const PARAM_VALUE = /^[A-Za-z0-9._/:@%+=-]{1,253}$/;

/** A parameter value: PARAM_VALUE characters and no `..` (no walking up a URI or key prefix). */
export function isParamValue(v: string): boolean {
  return PARAM_VALUE.test(v) && !v.includes('..');
}

const scalarParam = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const StreamSchema = z.strictObject({
  path: z.string({ error: 'required: the absolute path of the log file' }),
  container: z.string().optional(),
  name: z.string().optional(),
  mode: z.enum(MODES).optional(),
  output: z.string().optional(),
  parser: z.enum(PARSERS).optional(),
  regex: z.string().optional(),
  critical: z.boolean().optional(),
  params: z.record(z.string(), scalarParam).optional(),
});

export type StreamSpec = z.output<typeof StreamSchema>;

/** A stream as the pod asked for it, validated on its own (not yet against the pod or policy). */
export interface RequestedStream {
  readonly index: number;
  readonly field: string;
  readonly spec: StreamSpec;
  readonly mode: Mode;
}

export interface ParsedStreams {
  readonly streams: RequestedStream[];
  readonly problems: Problem[];
}

/** `/var/log/app/*.log` -> `{dir: '/var/log/app', file: '*.log'}`. */
export function splitPath(path: string): { dir: string; file: string } {
  const cut = path.lastIndexOf('/');
  return { dir: cut <= 0 ? '/' : path.slice(0, cut), file: path.slice(cut + 1) };
}

export function isGlob(file: string): boolean {
  return /[*?[\]]/.test(file);
}

/** Checks a log path; returns the problem message or undefined. */
export function checkPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be absolute';
  if (path.length > 512) return 'must be at most 512 characters';
  const segments = path.slice(1).split('/');
  const last = segments.length - 1;
  for (const [i, seg] of segments.entries()) {
    if (seg === '') return i === last ? 'must name a file, not a directory' : 'must not contain empty segments (//)';
    if (seg === '.' || seg === '..') return 'must not contain . or .. segments';
    if (i < last && !SEGMENT.test(seg)) {
      return /[*?[\]]/.test(seg)
        ? 'a glob is allowed only in the last segment'
        : 'may contain only letters, digits and . _ @ % + = : - in each segment';
    }
    if (i === last && !GLOB_SEGMENT.test(seg)) return 'the file name may contain only letters, digits, . _ @ % + = : - and the globs * ? [ ]';
  }
  const { dir } = splitPath(path);
  if (dir === '/') return 'must be in a directory below / (sidelog mounts a volume on that directory)';
  const forbidden = FORBIDDEN_DIRS.find((f) => dir === f || dir.startsWith(`${f}/`));
  if (forbidden) return `must not be under ${forbidden} (sidelog mounts a log volume on the file's directory)`;
  return undefined;
}

function checkRegex(regex: string): string | undefined {
  if (regex.length > MAX_REGEX_CHARS) return `must be at most ${MAX_REGEX_CHARS} characters`;
  // Control characters (newlines above all) would end the config line; `${` and `#{` would be
  // expanded by the agents' config loaders. None of them belong in a log-line regex.
  if (/[\u0000-\u001f\u007f]/.test(regex)) return 'must not contain control characters or newlines';
  if (regex.includes('${') || regex.includes('#{')) return 'must not contain ${ or #{';
  if (regex.trim() !== regex) return 'must not start or end with white space';
  // Compiled by the agents' own engine (Oniguruma, Ruby syntax), not JavaScript's; Fluentd's
  // stricter Ruby rules are checked once the agent is known (resolve.ts).
  const engineProblem = bothAgentsRegexError(regex);
  if (engineProblem !== undefined) return engineProblem;
  // Group names become record keys: none may pose as sidelog's internal ones, in either of Onigmo's spellings.
  if (/\(\?(?:<|')sidelog_/.test(regex)) return "group names must not start with sidelog_ (sidelog's internal record keys)";
  if (!/\(\?(?:<[A-Za-z_][A-Za-z0-9_]*>|'[A-Za-z_][A-Za-z0-9_]*')/.test(regex)) return 'must have at least one named group, e.g. (?<message>.*)';
  // Onigmo (both agents' regex engine) refuses variable-length lookbehind, which JavaScript allows.
  if (/\(\?<[=!]/.test(regex)) return 'must not use lookbehind ((?<= or (?<!): the agents\' regex engine supports only fixed-length lookbehind';
  return undefined;
}

/**
 * Parse the `sidelog.io/streams` annotation. A broken list (not YAML, not a list) is one problem
 * at the annotation; a broken stream is a problem at its index and field and drops that stream only.
 */
export function parseStreams(text: string): ParsedStreams {
  const problems: Problem[] = [];
  if (Buffer.byteLength(text, 'utf8') > MAX_ANNOTATION_BYTES) {
    return { streams: [], problems: [{ field: STREAMS, message: `must be at most ${MAX_ANNOTATION_BYTES} bytes` }] };
  }
  let doc: unknown;
  try {
    doc = parseYamlDocument(text);
  } catch (e) {
    const first = String((e as Error).message).split('\n')[0];
    return { streams: [], problems: [{ field: STREAMS, message: `is not valid YAML or JSON (${first})` }] };
  }
  if (!Array.isArray(doc)) {
    return { streams: [], problems: [{ field: STREAMS, message: 'must be a list of streams (- path: /var/log/app/app.log)' }] };
  }
  if (doc.length === 0) return { streams: [], problems: [{ field: STREAMS, message: 'lists no streams' }] };
  if (doc.length > MAX_STREAMS) {
    return { streams: [], problems: [{ field: STREAMS, message: `lists ${doc.length} streams; at most ${MAX_STREAMS} are allowed` }] };
  }
  const streams: RequestedStream[] = [];
  /** Characters of the regexes compiled so far (see MAX_REGEX_CHARS_PER_POD). */
  let regexChars = 0;
  for (const [index, item] of doc.entries()) {
    const field = fieldPath(STREAMS, [index]);
    const parsed = StreamSchema.safeParse(item);
    if (!parsed.success) {
      problems.push(...zodProblems(field, parsed.error));
      continue;
    }
    const spec = parsed.data;
    const own: Problem[] = [];
    const pathProblem = checkPath(spec.path);
    if (pathProblem) own.push({ field: `${field}.path`, message: pathProblem });
    if (spec.name !== undefined && !(isDns1123Label(spec.name) && spec.name.length <= 40)) {
      own.push({ field: `${field}.name`, message: 'must be a DNS-1123 label (lower-case letters, digits, -) of at most 40 characters' });
    }
    if (spec.container !== undefined && !isDns1123Label(spec.container)) {
      own.push({ field: `${field}.container`, message: 'must be a container name (DNS-1123 label)' });
    }
    const mode: Mode = spec.mode ?? (spec.output !== undefined ? 'agent' : 'streaming');
    if (mode === 'streaming') {
      for (const key of ['output', 'critical', 'params'] as const) {
        if (spec[key] !== undefined) own.push({ field: `${field}.${key}`, message: 'applies to agent mode only (streaming sidecars print the file to their own stdout)' });
      }
      if (spec.parser !== undefined && spec.parser !== 'none') {
        own.push({ field: `${field}.parser`, message: 'applies to agent mode only; a streaming sidecar passes lines through unparsed' });
      }
    }
    if (mode === 'agent' && spec.output === undefined) {
      own.push({ field: `${field}.output`, message: 'required in agent mode: a name from the output catalog' });
    }
    if (spec.parser === 'regex') {
      if (spec.regex === undefined) own.push({ field: `${field}.regex`, message: 'required when parser is regex' });
      else if (spec.regex.length <= MAX_REGEX_CHARS && regexChars + spec.regex.length > MAX_REGEX_CHARS_PER_POD) {
        own.push({ field: `${field}.regex`, message: `the pod's regexes would total ${regexChars + spec.regex.length} characters; at most ${MAX_REGEX_CHARS_PER_POD} in one pod (each is compiled at admission): shorten them or use the json parser` });
      } else {
        if (spec.regex.length <= MAX_REGEX_CHARS) regexChars += spec.regex.length;
        const regexProblem = checkRegex(spec.regex);
        if (regexProblem) own.push({ field: `${field}.regex`, message: regexProblem });
      }
    } else if (spec.regex !== undefined) {
      own.push({ field: `${field}.regex`, message: 'applies only when parser is regex' });
    }
    for (const [key, value] of Object.entries(spec.params ?? {})) {
      if (!isParamValue(value)) {
        own.push({ field: fieldPath(`${field}.params`, [key]), message: 'must be 1-253 characters of letters, digits and . _ / : @ % + = - without ..' });
      }
    }
    if (own.length > 0) {
      problems.push(...own);
      continue;
    }
    streams.push({ index, field, spec, mode });
  }
  return { streams, problems };
}

/** parseStreams, memoized by annotation text; the result is frozen (copy before changing it). */
export const parseStreamsCached: (text: string) => ParsedStreams = memoize((text) => {
  const parsed = parseStreams(text);
  for (const s of parsed.streams) Object.freeze(s.spec.params), Object.freeze(s.spec), Object.freeze(s);
  return Object.freeze({ streams: Object.freeze(parsed.streams) as RequestedStream[], problems: Object.freeze(parsed.problems) as Problem[] });
});

/** Whether a `sidelog.io/inject` value opts the pod out (`false`, `no`, `off`, `0`, `disabled`). */
export function optsOut(value: unknown): boolean {
  return typeof value === 'string' && /^(false|no|off|0|disabled)$/i.test(value.trim());
}

export interface PodOptions {
  readonly agent?: AgentName;
  readonly optOut: boolean;
}

/** The single-value annotations: `sidelog.io/agent` and `sidelog.io/inject`. */
export function parsePodOptions(annotations: Readonly<Record<string, string>>): { options: PodOptions; problems: Problem[] } {
  const problems: Problem[] = [];
  const agentText = annotations[AGENT];
  let agent: AgentName | undefined;
  if (agentText !== undefined && typeof agentText === 'string') {
    if ((AGENTS as readonly string[]).includes(agentText)) agent = agentText as AgentName;
    else problems.push({ field: AGENT, message: `must be one of ${AGENTS.join(', ')}` });
  }
  return { options: { agent, optOut: optsOut(annotations[INJECT]) }, problems };
}
