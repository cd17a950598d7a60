import fastJsonPatch from 'fast-json-patch';
import { loadCases, podOf, runPreview } from '../golden/harness.js';
import { checkPodInvariants } from './invariants.js';
import { restrictedViolations } from './pss.js';
import { parseFluentBitConf } from './fluent-bit-conf.js';
import { parseFluentdConf } from './fluentd-conf.js';

it('scratch', () => {
  const report: string[] = [];
  for (const c of loadCases()) {
    let r;
    try { r = runPreview(c); } catch (e) { report.push(`${c.name}: preview threw ${(e as Error).message}`); continue; }
    if (r.patch.length) {
      const inv = checkPodInvariants(podOf(c.input), podOf(r.mutated), fastJsonPatch.compare(podOf(c.input), podOf(r.mutated)));
      if (inv.length) report.push(`${c.name}: invariants ${JSON.stringify(inv)}`);
    }
    const before = restrictedViolations(podOf(c.input));
    const after = restrictedViolations(podOf(r.mutated));
    if (before.length === 0 && after.length) report.push(`${c.name}: pss ${JSON.stringify(after)}`);
    for (const cfg of r.configs) {
      try {
        if (cfg.file.endsWith('.conf') && !cfg.text.includes('<source>')) { const p = parseFluentBitConf(cfg.text); report.push(`${c.name}/${cfg.file}: ok ${p.sections.length} sections env=${p.envRefs.join(',')}`); }
        else { const p = parseFluentdConf(cfg.text); report.push(`${c.name}/${cfg.file}: fluentd ok ${p.children.length}`); }
      } catch (e) { report.push(`${c.name}/${cfg.file}: PARSE ${(e as Error).message}`); }
    }
  }
  console.log(report.join('\n'));
});
