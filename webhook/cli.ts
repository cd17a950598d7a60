/**
 * The `sidelog` command: `serve`, `preview`, `certs`. Each subcommand parses its flags, does its
 * work and returns an exit status; errors are one line naming the file and field.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { parseKubeVersion } from './core/kube-version.js';
import { type Policy, BUILTIN_POLICY, parsePolicy } from './core/policy.js';
import { InputError, problemText } from './core/problems.js';
import { parseManifests, previewObject } from './core/preview.js';
import { loadConfig } from './config.js';
import { flagsToConfig, startServer, tryItText } from './main.js';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly readStdin: () => string;
}

const defaultIo: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, 'utf8'),
};

const USAGE = `Usage:
  sidelog serve   [--policy FILE] [--tls-cert FILE --tls-key FILE] [--port 8443] [--preview-port 8444]
                  [--host ::] [--kube-version X.Y] [--max-reviews 64] [--max-review-bytes 16777216]
                  [--preview-workers 1] [--max-previews 4] [--preview-heap-mb 48]
                  (/mutate and probes on --port; /preview and /metrics on --preview-port)
  sidelog preview -f MANIFEST|- [--policy FILE] [--kube-version 1.30] [--namespace NS] [--required] [-o json|yaml]
  sidelog certs   ensure|rotate [--ca] [--namespace sidelog] [--service sidelog] [--secret sidelog-tls]
                  [--ca-secret sidelog-ca] [--webhook sidelog] [--days 365] [--renew-before-days 30]
`;

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

export function loadPolicy(file: string | undefined, io: Io = defaultIo): Policy {
  return file === undefined ? BUILTIN_POLICY : parsePolicy(readText(file, io), file);
}

async function preview(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f' },
      policy: { type: 'string' },
      'kube-version': { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      required: { type: 'boolean', default: false },
      output: { type: 'string', short: 'o', default: 'json' },
    },
    strict: true,
  });
  if (values.filename === undefined) throw new Error('preview: -f MANIFEST is required (use -f - for standard input)');
  if (values.output !== 'json' && values.output !== 'yaml') throw new Error(`preview: -o must be json or yaml, not ${values.output}`);
  const kubeVersion = parseKubeVersion(values['kube-version']);
  if (values['kube-version'] !== undefined && !kubeVersion) throw new Error(`preview: --kube-version must look like 1.30, not ${values['kube-version']}`);
  const policy = loadPolicy(values.policy, io);
  const source = values.filename === '-' ? 'stdin' : values.filename;
  const docs = parseManifests(readText(values.filename, io), source);
  const results = docs.map((doc, i) =>
    previewObject(doc, { policy, kubeVersion, enforcement: values.required ? 'required' : 'enabled', ...(values.namespace ? { namespace: values.namespace } : {}) }, docs.length > 1 ? `${source} (document ${i + 1})` : source),
  );
  if (values.output === 'yaml') {
    for (const r of results) {
      for (const w of r.warnings) io.stderr(`Warning: ${w}\n`);
      if (r.denial) io.stderr(`Error: ${r.denial}\n`);
    }
    io.stdout(results.map((r) => toYaml(r.mutated, { lineWidth: 0 })).join('---\n'));
  } else {
    io.stdout(`${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
  }
  return results.some((r) => !r.allowed) ? 3 : 0;
}

async function serve(argv: string[], io: Io): Promise<number> {
  const config = loadConfig(flagsToConfig(argv));
  const running = await startServer(config, config.discoverVersion ? { discoverVersion: async () => (await import('./k8s/version.js')).discoverKubeVersion() } : {});
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
  if (action !== 'ensure' && action !== 'rotate') throw new Error('certs: use "certs ensure" (issue or renew as needed) or "certs rotate [--ca]" (renew now)');
  const { values } = parseArgs({
    args: rest,
    options: {
      namespace: { type: 'string', default: 'sidelog' },
      service: { type: 'string', default: 'sidelog' },
      secret: { type: 'string', default: 'sidelog-tls' },
      'ca-secret': { type: 'string', default: 'sidelog-ca' },
      webhook: { type: 'string', default: 'sidelog' },
      days: { type: 'string', default: '365' },
      'ca-days': { type: 'string', default: '3650' },
      'renew-before-days': { type: 'string', default: '30' },
      ca: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const num = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`certs: --${flag} must be a whole number of days, not ${v}`);
    return n;
  };
  const days = num('days', values.days);
  const caDays = num('ca-days', values['ca-days']);
  const renewBeforeDays = num('renew-before-days', values['renew-before-days']);
  if (renewBeforeDays >= days) throw new Error('certs: --renew-before-days must be shorter than --days');
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
  });
  io.stdout(`${JSON.stringify({ ...report, notAfter: report.notAfter.toISOString() })}\n`);
  return 0;
}

export type Command = (argv: string[], io: Io) => Promise<number>;

export const COMMANDS: Record<string, Command> = { serve, preview, certs };

/** Run the CLI; returns the exit status. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    io.stdout(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.stderr(`sidelog: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    io.stderr(`sidelog ${command}: ${errorLine(e)}\n`);
    return 1;
  }
}
