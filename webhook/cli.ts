/**
 * The `sidelog` command (and the `kubectl sidelog` plugin): `serve`, `preview`, `certs`. Each
 * subcommand parses its flags, does its work and returns an exit status; errors are one line
 * naming the file and field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { parseKubeVersion } from './core/kube-version.js';
import { type Policy, BUILTIN_POLICY, parsePolicy } from './core/policy.js';
import { InputError, problemText } from './core/problems.js';
import { loadRegexEngine } from './core/regex.js';
import { diagnostics, jsonAnswer, parseManifestDocuments, previewManifest } from './inject/preview.js';
import type { KubeTarget } from './k8s/kubeconfig.js';
import { loadConfig } from './config.js';
import { SERVE_FLAGS, flagsToConfig, startServer, tryItText } from './main.js';
import { AUDIT_FLAGS, AUDIT_USAGE, audit } from './ops/audit.js';
import { WHAT_IF_FLAGS, WHAT_IF_USAGE, whatIf } from './ops/what-if.js';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly readStdin: () => string;
  /** The cluster, from kubectl's `--kubeconfig` and `--context` (any subcommand accepts them). */
  readonly kube?: KubeTarget;
  /** How the user called the program: `sidelog`, or `kubectl sidelog` for the kubectl plugin. */
  readonly program?: string;
}

export const processIo: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, 'utf8'),
};

/** Each subcommand's usage: every flag it accepts (test/cli.test.ts holds the docs to these). */
export const USAGES: Record<string, string> = {
  serve: `serve [--policy FILE] [--tls-cert FILE --tls-key FILE] [--port 8443] [--preview-port 8444] [--host ::]
      [--kube-version 1.30 | --discover-version] [--cert-dir .sidelog] [--body-limit BYTES]
      [--max-reviews 64] [--max-review-bytes 16777216] [--preview-workers 1] [--max-previews 4]
      [--preview-heap-mb 64] [--preview-timeout-ms 20000] [--log-level info] [--watch-interval MS] [--shutdown-seconds 20] [--audit]
    Run the webhook over HTTPS: /mutate and the probes on --port, /preview and /metrics on
    --preview-port. Settings can also come from SIDELOG_* env vars; flags win.
`,
  preview: `preview -f|--filename MANIFEST|- [--policy FILE] [--kube-version 1.30] [-n|--namespace NS] [--required]
      [-o|--output json|yaml]
    What the webhook would do to a manifest (a Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
    Job or CronJob; several documents or a List), offline. Other kinds in a multi-document file pass
    through unchanged. Exit 0; 3 when a required namespace would refuse a pod; 1 on bad input.
`,
  certs: `certs ensure|rotate [--ca] [--namespace sidelog] [--service sidelog] [--secret sidelog-tls]
      [--ca-secret sidelog-ca] [--webhook sidelog] [--days 365] [--ca-days 3650] [--renew-before-days 30]
    Issue or renew the serving certificate, store it in a Secret and the CA in the webhook's caBundle.
`,
  audit: AUDIT_USAGE,
  'what-if': WHAT_IF_USAGE,
};

const GLOBAL_FLAGS = `Flags for every command:
  --kubeconfig FILE   kubeconfig to use (default: KUBECONFIG, ~/.kube/config, in-cluster)
  --context NAME      kubeconfig context to use
  -h, --help          this help;  --version  the version
`;

function usage(program: string, command?: string): string {
  const commands = command !== undefined ? [command] : Object.keys(COMMANDS);
  const lines = commands.map((c) => `  ${program} ${(USAGES[c] ?? `${c}\n`).replace(/\n(?=.)/g, '\n  ')}`);
  return `Usage:\n${lines.join('')}\n${GLOBAL_FLAGS}`;
}

/** The package's version, from the package.json above this module (in dist/ or in the sources). */
export function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sidelog' && pkg.version) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** One line for the user: `file: field: message`. */
export function errorLine(e: unknown): string {
  // Every problem on one line, so a bad configuration is fixed in one go.
  if (e instanceof InputError) return `${e.source}: ${e.problems.map(problemText).join('; ')}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

function readText(file: string, io: Io): string {
  if (file === '-') return io.readStdin();
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
}

export function loadPolicy(file: string | undefined, io: Io = processIo): Policy {
  return file === undefined ? BUILTIN_POLICY : parsePolicy(readText(file, io), file);
}

/** Plain YAML: no anchors or aliases (a reader or `kubectl apply` sees every value written out). */
function plainYaml(value: unknown): string {
  return toYaml(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

const PREVIEW_FLAGS = {
  filename: { type: 'string', short: 'f' },
  policy: { type: 'string' },
  'kube-version': { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  required: { type: 'boolean', default: false },
  output: { type: 'string', short: 'o', default: 'json' },
} as const;

const CERTS_FLAGS = {
  namespace: { type: 'string', default: 'sidelog' },
  service: { type: 'string', default: 'sidelog' },
  secret: { type: 'string', default: 'sidelog-tls' },
  'ca-secret': { type: 'string', default: 'sidelog-ca' },
  webhook: { type: 'string', default: 'sidelog' },
  days: { type: 'string', default: '365' },
  'ca-days': { type: 'string', default: '3650' },
  'renew-before-days': { type: 'string', default: '30' },
  ca: { type: 'boolean', default: false },
} as const;

/** The flags each subcommand accepts (parseArgs tables), beside --kubeconfig/--context and --help. */
export const FLAGS: Record<string, Readonly<Record<string, unknown>>> = { serve: SERVE_FLAGS, preview: PREVIEW_FLAGS, certs: CERTS_FLAGS, audit: AUDIT_FLAGS, 'what-if': WHAT_IF_FLAGS };

async function preview(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: PREVIEW_FLAGS,
    strict: true,
  });
  if (values.filename === undefined) throw new Error('-f MANIFEST is required (use -f - for standard input)');
  if (values.output !== 'json' && values.output !== 'yaml') throw new Error(`-o must be json or yaml, not ${values.output}`);
  const kubeVersion = parseKubeVersion(values['kube-version']);
  if (values['kube-version'] !== undefined && !kubeVersion) throw new Error(`--kube-version must look like 1.30, not ${values['kube-version']}`);
  const policy = loadPolicy(values.policy, io);
  // A command runs once: the regex engine is loaded up front rather than on the first pod that needs it.
  await loadRegexEngine();
  const source = values.filename === '-' ? 'stdin' : values.filename;
  const docs = parseManifestDocuments(readText(values.filename, io), source);
  // As kubectl: without -n, the kubeconfig context's namespace when one is named (always, for the plugin).
  let namespace = values.namespace;
  if (namespace === undefined && (io.kube?.kubeconfig !== undefined || io.kube?.context !== undefined || io.program === KUBECTL_PROGRAM)) {
    namespace = (await import('./k8s/kubeconfig.js')).contextNamespace(io.kube);
  }
  const { results, documents } = previewManifest(docs, { policy, kubeVersion, enforcement: values.required ? 'required' : 'enabled', ...(namespace ? { namespace } : {}) }, source);
  if (values.output === 'yaml') {
    for (const r of results) for (const line of diagnostics(r, results.length > 1)) io.stderr(`${line}\n`);
    io.stdout(documents.map(plainYaml).join('---\n'));
  } else {
    io.stdout(`${JSON.stringify(jsonAnswer(docs, results), null, 2)}\n`);
  }
  return results.some((r) => !r.allowed) ? 3 : 0;
}

async function serve(argv: string[], io: Io): Promise<number> {
  const config = loadConfig(flagsToConfig(argv));
  // kubectl's --kubeconfig / --context (taken off the command line by main) reach version discovery and the auditor.
  const kube = io.kube ?? {};
  const running = await startServer(config, {
    kube,
    ...(config.discoverVersion
      ? { discoverVersion: async () => { const v = await import('./k8s/version.js'); return v.discoverKubeVersion(v.defaultKubeConfig(kube)); } }
      : {}),
  });
  io.stderr(tryItText(running));
  return new Promise((resolve) => {
    let closing = false;
    const stop = (signal: string) => {
      if (closing) return;
      closing = true;
      running.app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      const deadline = setTimeout(() => {
        running.app.log.warn('shutdown deadline passed; exiting with requests in flight');
        resolve(1);
      }, config.shutdownSeconds * 1000);
      deadline.unref();
      running.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function certs(argv: string[], io: Io): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'ensure' && action !== 'rotate') throw new Error('use "certs ensure" (issue or renew as needed) or "certs rotate [--ca]" (renew now)');
  const { values } = parseArgs({
    args: rest,
    options: CERTS_FLAGS,
    strict: true,
  });
  const num = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a whole number of days, not ${v}`);
    return n;
  };
  const days = num('days', values.days);
  const caDays = num('ca-days', values['ca-days']);
  const renewBeforeDays = num('renew-before-days', values['renew-before-days']);
  if (renewBeforeDays >= days) throw new Error('--renew-before-days must be shorter than --days');
  const { ensureCertsInCluster } = await import('./k8s/certs-command.js');
  const report = await ensureCertsInCluster({
    namespace: values.namespace,
    service: values.service,
    secret: values.secret,
    caSecret: values['ca-secret'],
    webhook: values.webhook,
    days,
    caDays,
    renewBeforeDays,
    forceServing: action === 'rotate',
    forceCa: action === 'rotate' && values.ca,
  }, io.kube);
  io.stdout(`${JSON.stringify({ ...report, notAfter: report.notAfter.toISOString() })}\n`);
  return 0;
}

export type Command = (argv: string[], io: Io) => Promise<number>;

export const COMMANDS: Record<string, Command> = { serve, preview, certs, audit, 'what-if': whatIf };

export const KUBECTL_PROGRAM = 'kubectl sidelog';

/** kubectl's connection flags, taken out wherever they stand (`--context X`, `--context=X`). */
function takeKubeFlags(argv: string[]): { rest: string[]; kube: KubeTarget } {
  const rest: string[] = [];
  const kube: { kubeconfig?: string; context?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(kubeconfig|context)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) {
      if (argv[i] === '--') {
        rest.push(...argv.slice(i));
        break;
      }
      rest.push(argv[i]!);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') throw new Error(`--${m[1]} needs a value`);
    kube[m[1] as 'kubeconfig' | 'context'] = value;
  }
  return { rest, kube };
}

/**
 * Flags kubectl users put before the command (`kubectl sidelog -n team-a preview ...`): `-n` and
 * `--namespace` move behind the command, the others stay where they are.
 */
function commandFirst(argv: string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length && /^(-n|--namespace)(=.*)?$/.test(argv[i]!)) {
    const takesNext = !argv[i]!.includes('=');
    leading.push(...argv.slice(i, i + (takesNext ? 2 : 1)));
    i += takesNext ? 2 : 1;
  }
  return i < argv.length ? [argv[i]!, ...leading, ...argv.slice(i + 1)] : argv;
}

/** Run the CLI; returns the exit status. `io.program` names it in usage and errors. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = io.program ?? 'sidelog';
  let taken: ReturnType<typeof takeKubeFlags>;
  try {
    taken = takeKubeFlags(argv);
  } catch (e) {
    io.stderr(`${program}: ${errorLine(e)}\n`);
    return 1;
  }
  const [command, ...args] = commandFirst(taken.rest);
  if (command === '--version') {
    io.stdout(`sidelog ${version()}\n`);
    return 0;
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const about = args[0] !== undefined && command === 'help' && COMMANDS[args[0]] ? args[0] : undefined;
    io.stdout(usage(program, about));
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.stderr(`${program}: unknown command "${command}"\n${usage(program)}`);
    return 2;
  }
  if ((args.includes('--help') || args.includes('-h')) && USAGES[command] !== undefined) {
    io.stdout(usage(program, command));
    return 0;
  }
  try {
    return await run(args, { ...io, program, kube: { ...io.kube, ...taken.kube } });
  } catch (e) {
    io.stderr(`${program} ${command}: ${errorLine(e)}\n`);
    return 1;
  }
}
