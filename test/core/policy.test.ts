import { BUILTIN_POLICY, SIDELOG_FLUENTD_IMAGE, fillTemplate, fluentdImageFor, paramAllowed, parsePolicy, policyFromObject, rulesFor } from '../../webhook/core/policy.js';
import { InputError, problemText } from '../../webhook/core/problems.js';

function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (e) {
    if (e instanceof InputError) return e.problems.map(problemText);
    throw e;
  }
  return [];
}

describe('policy', () => {
  it('fills in every default from an empty file', () => {
    const p = parsePolicy('', 'policy.yaml');
    expect(p.defaults).toMatchObject({ agent: 'fluent-bit', nativeSidecars: 'auto', bufferSize: '1Gi', flushSeconds: 20, runAsUser: 65532 });
    expect(p.defaults.resources.agent).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
    expect(Object.isFrozen(p.defaults.resources)).toBe(true);
  });

  it('lets 0 and false be set (no `||` defaults)', () => {
    const p = parsePolicy('outputs:\n  f: {type: forward, host: a.b, tls: false, requireAck: false}\n');
    expect(p.outputs.f).toMatchObject({ tls: false, requireAck: false, port: 24224 });
  });

  it.each([
    ['outputs:\n  k: {type: kafka}\n', 'policy.yaml: outputs.k.brokers: Invalid input: expected array, received undefined'],
    ['outputs:\n  k: {type: kafka, brokers: [nohost]}\n', 'outputs.k.brokers[0]: must be host:port'],
    ['outputs:\n  k: {type: carrier-pigeon}\n', 'outputs.k.type: Invalid discriminator value'],
    ['outputs:\n  f: {type: forward, host: "a b"}\n', 'outputs.f.host: must be a host name or IPv4 address'],
    ['outputs:\n  f: {type: forward, host: a.b, port: 70000}\n', 'outputs.f.port: Too big: expected number to be <=65535'],
    ['outputs:\n  f: {type: forward, host: a.b, colour: red}\n', 'outputs.f.colour: unknown field'],
    ['outputs:\n  k: {type: kafka, brokers: ["k:9092"], topic: "{pod}"}\n', 'outputs.k.topic: topic: letters, digits, . _ / : @ % + = - and {namespace} {stream} {container}'],
    ['outputs:\n  k: {type: kafka, brokers: ["k:9092"], podParams: [brokers]}\n', 'outputs.k.podParams.brokers: pods can be allowed to set only topic on a kafka output'],
    ['outputs:\n  k: {type: kafka, brokers: ["k:9092"], podParams: {topic: {pattern: "("}}}\n', 'outputs.k.podParams.topic.pattern: is not a regular expression sidelog can match in linear time'],
    ['outputs:\n  Bad_Name: {type: stdout}\n', 'outputs.Bad_Name: output names must be DNS-1123 labels'],
    ['namespaces:\n  team-a: {outputs: [nope]}\n', 'namespaces.team-a.outputs[0]: unknown output "nope" (not in outputs)'],
    ['defaults:\n  resources: {agent: {limits: {memory: 2Gi}}}\n', 'defaults.resources.agent.limits.memory: 2Gi exceeds defaults.resources.max.memory (1Gi)'],
    ['defaults:\n  bufferSize: lots\n', 'defaults.bufferSize: must be a Kubernetes quantity such as 64Mi or 1Gi'],
    ['defaults: [1]\n', 'defaults: Invalid input'],
    ['- a\n', 'policy.yaml: must be a mapping with defaults, outputs and namespaces'],
    ['a: [\n', 'policy.yaml: is not valid YAML'],
  ])('%j is refused: %s', (text, message) => {
    const problems = problemsOf(text);
    expect(problems.some((p) => p.includes(message) || `policy.yaml: ${p}`.includes(message))).toBe(true);
  });

  it('reports every problem, not only the first', () => {
    expect(problemsOf('outputs:\n  a: {type: kafka}\n  b: {type: forward}\nnamespaces:\n  x: {outputs: [c]}\n')).toHaveLength(3);
  });

  it('names the file and the first field in the error message', () => {
    expect(() => parsePolicy('outputs:\n  a: {type: kafka}\n', '/etc/sidelog/policy.yaml')).toThrow('/etc/sidelog/policy.yaml: outputs.a.brokers: ');
  });

  it('picks the namespace rules, then "*", then nothing', () => {
    const p = parsePolicy('outputs: {a: {type: stdout}, b: {type: stdout}}\nnamespaces:\n  team-a: {outputs: [a]}\n  "*": {outputs: [b]}\n');
    expect(rulesFor(p, 'team-a').outputs).toEqual(['a']);
    expect(rulesFor(p, 'other').outputs).toEqual(['b']);
    expect(rulesFor(BUILTIN_POLICY, 'anything').outputs).toEqual(['stdout']);
    expect(rulesFor(parsePolicy(''), 'x').outputs).toEqual([]);
  });

  it('fills placeholders', () => {
    expect(fillTemplate('{namespace}.{stream}-{container}', { namespace: 'ns', stream: 's', container: 'c' })).toBe('ns.s-c');
  });

  it.each([
    ['team-a', {}, true],
    ['team-a.orders', { pattern: '{namespace}(\\.[a-z]+)?' }, true],
    ['team-b', { pattern: '{namespace}(\\.[a-z]+)?' }, false],
    ['team-a.x', { pattern: '{namespace}(\\.[a-z]+)?' }, true],
    ['team-a/../b', {}, false],
    ['team-a.x', { pattern: '{namespace}' }, false],
    ['a b', {}, false],
  ])('param %s under %j allowed: %s', (value, rule, allowed) => {
    expect(paramAllowed(value, rule, 'team-a')).toBe(allowed);
  });

  it('treats a namespace as a literal inside param patterns', () => {
    expect(paramAllowed('teamXa', { pattern: '{namespace}' }, 'team.a')).toBe(false);
  });

  it('picks sidelog\'s image for every output type unless the policy names one per type or the output its own', () => {
    const p = policyFromObject({ defaults: { images: { fluentd: { kafka: 'my/kafka:1' } } }, outputs: { k: { type: 'kafka', brokers: ['k:1'] }, s: { type: 's3', bucket: 'abc', region: 'eu-west-1' }, f: { type: 'forward', host: 'x', fluentdImage: 'own:2' } } });
    expect(fluentdImageFor(p.defaults, p.outputs.k!)).toBe('my/kafka:1');
    // Issue 7: one image with the plugins of all ten output types is the default for every type.
    expect(fluentdImageFor(p.defaults, p.outputs.s!)).toBe(SIDELOG_FLUENTD_IMAGE);
    expect(fluentdImageFor(p.defaults, p.outputs.f!)).toBe('own:2');
  });

  it('takes TLS material only where the output speaks TLS', () => {
    const ok = policyFromObject({ outputs: {
      k: { type: 'kafka', brokers: ['k:9093'], tls: true, tlsCASecret: 'ca', tlsClientSecret: 'client' },
      s: { type: 'syslog', host: 's', protocol: 'tls', tlsCASecret: 'ca' },
      b: { type: 's3', bucket: 'abc', region: 'eu-west-1', tlsCASecret: 'ca' },
    } });
    expect(ok.outputs.k).toMatchObject({ tlsCASecret: 'ca', tlsClientSecret: 'client' });
    const problems = (doc: unknown) => {
      try {
        policyFromObject(doc);
        return [];
      } catch (e) {
        return (e as { problems: Array<{ field: string; message: string }> }).problems.map((p) => `${p.field}: ${p.message}`);
      }
    };
    expect(problems({ outputs: { e: { type: 'elasticsearch', host: 'es', tlsCASecret: 'ca' } } })).toEqual(['outputs.e.tlsCASecret: needs tls: true']);
    expect(problems({ outputs: { s: { type: 'syslog', host: 's', tlsCASecret: 'ca' } } })).toEqual(['outputs.s.tlsCASecret: needs protocol: tls']);
    expect(problems({ outputs: { b: { type: 's3', bucket: 'abc', region: 'eu-west-1', endpoint: 'http://minio:9000', tlsCASecret: 'ca' } } })).toEqual(['outputs.b.tlsCASecret: needs an https endpoint']);
    // No client certificate where the Fluentd plugin has no option for one.
    expect(problems({ outputs: { s: { type: 'syslog', host: 's', protocol: 'tls', tlsClientSecret: 'c' } } })[0]).toMatch(/tlsClientSecret/);
  });

  it('leaves the full-buffer behaviour to the agent unless the policy chooses block or drop-oldest', () => {
    expect(policyFromObject({}).defaults.onBufferFull).toBeUndefined();
    expect(policyFromObject({ defaults: { onBufferFull: 'block' } }).defaults.onBufferFull).toBe('block');
    expect(policyFromObject({ defaults: { onBufferFull: 'drop-oldest' } }).defaults.onBufferFull).toBe('drop-oldest');
    expect(() => policyFromObject({ defaults: { onBufferFull: 'ignore' } })).toThrow(/onBufferFull/);
  });
});
