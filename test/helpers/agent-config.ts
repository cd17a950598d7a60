/**
 * Check a generated agent config the way the agent would read it: parse it back with the real
 * syntax rules (fluent-bit-conf.ts, fluentd-conf.ts), refuse directives sidelog never writes
 * (@INCLUDE, @SET, @include), refuse Ruby other than ENV lookups, and check every key against the
 * keys each plugin really has (test/fixtures/agent-keys), since an unknown key stops Fluent Bit.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FluentBitSection, parseFluentBitConf } from './fluent-bit-conf.js';
import { type FluentdElement, parseFluentdConf } from './fluentd-conf.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/agent-keys');
const fb = JSON.parse(readFileSync(join(FIXTURES, 'fluent-bit.json'), 'utf8'));
const fd = JSON.parse(readFileSync(join(FIXTURES, 'fluentd.json'), 'utf8'));

/** Env vars a generated config may reference: downward-API facts and Secret-backed credentials. */
const ENV_ALLOWED = /^(SIDELOG_(POD_NAME|NAMESPACE|NODE_NAME)|SIDELOG_[A-Z0-9_]+_(USERNAME|PASSWORD|SHARED_KEY)|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)$/;

function allowedKey(list: readonly string[], key: string): boolean {
  const k = key.toLowerCase();
  return list.some((a) => a === k || (a.endsWith('*') && k.startsWith(a.slice(0, -1)) && k.length > a.length - 1));
}

function fluentBitSectionProblems(s: FluentBitSection): string[] {
  const problems: string[] = [];
  const name = s.entries.find((e) => e.key.toLowerCase() === 'name')?.value;
  let allowed: string[];
  let plugin = '';
  switch (s.name) {
    case 'SERVICE':
      allowed = fb.service;
      break;
    case 'PARSER':
      allowed = fb.parser;
      break;
    case 'MULTILINE_PARSER':
      allowed = fb.multilineParser;
      plugin = 'multiline_parser';
      break;
    case 'INPUT':
    case 'FILTER':
    case 'OUTPUT': {
      plugin = `${s.name.toLowerCase()}:${name}`;
      const own = fb.plugins[plugin];
      if (!own) return [`line ${s.line}: [${s.name}] plugin ${name} is not one sidelog knows the keys of`];
      allowed = [...own, ...(s.name === 'INPUT' ? fb.inputCommon : s.name === 'FILTER' ? fb.filterCommon : fb.outputCommon)];
      break;
    }
    default:
      return [`line ${s.line}: unexpected section [${s.name}]`];
  }
  const seen = new Map<string, number>();
  for (const e of s.entries) {
    const k = e.key.toLowerCase();
    if (!allowedKey(allowed, k)) problems.push(`line ${e.line}: [${s.name}] ${name ?? ''} has no key "${e.key}"`);
    seen.set(k, (seen.get(k) ?? 0) + 1);
    if (k === 'tls' && plugin && String(fb.pluginTls[plugin] ?? '').startsWith('unsupported')) problems.push(`line ${e.line}: ${plugin} rejects tls`);
  }
  const multi: string[] = plugin === 'multiline_parser' ? ['rule'] : (plugin && fb.multiValueKeys[plugin]) || [];
  for (const [k, n] of seen) if (n > 1 && !multi.includes(k)) problems.push(`[${s.name}] ${name ?? ''} sets "${k}" ${n} times`);
  return problems;
}

function fluentdProblems(el: FluentdElement, parentPlugin: string): string[] {
  const problems: string[] = [];
  if (el.name === '@include') return [`line ${el.line}: @include`];
  const type = el.params.find((p) => p.key === '@type')?.value;
  let allowed: string[] = [];
  let plugin = parentPlugin;
  if (['source', 'filter', 'match'].includes(el.name)) {
    plugin = `${el.name}:${type}`;
    if (!fd.plugins[plugin]) problems.push(`line ${el.line}: <${el.name}> plugin ${type} is not one sidelog knows the params of`);
    allowed = [...(fd.plugins[plugin] ?? []), ...fd.common, ...(el.name === 'match' ? fd.outputCommon : [])];
  } else if (el.name === 'parse') {
    allowed = [...(fd.plugins[`parse:${type}`] ?? []), ...fd.common];
    if (!fd.plugins[`parse:${type}`]) problems.push(`line ${el.line}: <parse> type ${type} unknown`);
  } else if (el.name === 'system') {
    // Fluentd's <system> parameters (lib/fluent/system_config.rb).
    allowed = ['log_level', 'workers', 'root_dir', 'suppress_repeated_stacktrace', 'emit_error_log_interval', 'ignore_repeated_log_interval', 'ignore_same_log_interval', 'suppress_config_dump', 'log_event_verbose', 'without_source', 'with_source_only', 'rpc_endpoint', 'enable_get_dump', 'process_name', 'file_permission', 'dir_permission', 'counter_server', 'counter_client', 'strict_config_value', 'enable_msgpack_time_support', 'disable_shared_socket', 'metrics', 'enable_input_metrics', 'enable_size_metrics', 'enable_jit', 'source_only_buffer', 'config_include_dir', 'umask', 'log'];
  } else if (el.name !== 'ROOT') {
    const sectionKey = el.name === 'buffer' && type === 'file' ? 'buffer:file' : el.name === 'format' && type === 'stdout' ? 'format:stdout' : el.name;
    const own = fd.sections[sectionKey];
    if (!own) problems.push(`line ${el.line}: unknown section <${el.name}>`);
    else allowed = [...own, ...fd.common];
    const sections: string[] | undefined = fd.sectionsByPlugin[parentPlugin];
    if (sections && !sections.includes(el.name) && el.name !== 'parse') problems.push(`line ${el.line}: ${parentPlugin} has no <${el.name}> section`);
  }
  const open = allowed.includes('*');
  for (const p of el.params) {
    if (!open && !allowed.includes(p.key)) problems.push(`line ${p.line}: <${el.name}${type ? ` @type ${type}` : ''}> has no param "${p.key}"`);
    for (const code of p.rubyEmbedded) {
      const m = /^ENV\['([A-Z0-9_]+)'\]$/.exec(code);
      if (!m || !ENV_ALLOWED.test(m[1]!)) problems.push(`line ${p.line}: embedded Ruby #{${code}}`);
    }
  }
  for (const child of el.children) problems.push(...fluentdProblems(child, plugin));
  return problems;
}

/** Problems with one generated config file (empty when the agent would load it as intended). */
export function checkAgentConfig(file: string, text: string): string[] {
  try {
    if (file.endsWith('.conf') && file !== 'fluent.conf') {
      const conf = parseFluentBitConf(text);
      const problems = conf.directives.map((d) => `line ${d.line}: directive ${d.name}`);
      for (const ref of conf.envRefs) if (!ENV_ALLOWED.test(ref)) problems.push(`references \${${ref}}`);
      for (const s of conf.sections) problems.push(...fluentBitSectionProblems(s));
      return problems;
    }
    return fluentdProblems(parseFluentdConf(text), '');
  } catch (e) {
    return [`${file}: does not parse: ${(e as Error).message}`];
  }
}
