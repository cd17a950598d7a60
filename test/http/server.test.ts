/**
 * The real server over real TLS: every golden case through /mutate (v1 and v1beta1) and /preview,
 * each class of bad input, readiness, metrics and policy reload.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { admittedPodOf, loadCases, podOf, runPreview } from '../golden/harness.js';
import { type TestServer, admissionReview, decodePatch, startTestServer } from './client.js';
import type { FastifyReply } from 'fastify';
import { sendParts } from '../../webhook/http/mutate.js';
import { AnswerParts } from '../../webhook/review-cache.js';

const cases = loadCases();
const dir = mkdtempSync(join(tmpdir(), 'sidelog-http-'));
const policyFile = join(dir, 'policy.yaml');

async function waitFor(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('sidelog server over TLS', () => {
  let server: TestServer;

  beforeAll(async () => {
    writeFileSync(policyFile, cases[0]!.policyText);
    server = await startTestServer({ policy: policyFile, kubeVersion: '1.30', bodyLimit: 256 * 1024 });
  });
  afterAll(async () => {
    await server.close();
  });

  describe.each(cases.filter((c) => c.kubeVersion === '1.30').map((c, i) => [c.name, c, i] as const))('golden case %s', (_name, c, i) => {
    it('through /mutate gives the core result: the pod preview shows', async () => {
      const expected = runPreview(c);
      // The pod the controller creates from the manifest, as the API server sends it.
      const pod = admittedPodOf(c);
      const apiVersion = i % 2 === 0 ? 'admission.k8s.io/v1' : 'admission.k8s.io/v1beta1';
      const uid = `uid-${c.name}`;
      const path = c.enforcement === 'required' ? '/mutate/required' : '/mutate';
      const res = await server.client.post(path, JSON.stringify(admissionReview(pod, { uid, namespace: c.namespace, apiVersion })));
      expect(res.status).toBe(200);
      expect(res.json.apiVersion).toBe(apiVersion);
      expect(res.json.kind).toBe('AdmissionReview');
      expect(res.json.response.uid).toBe(uid);
      expect(res.json.response.allowed).toBe(expected.allowed);
      expect(res.json.response.warnings ?? []).toEqual(expected.warnings);
      const patch = decodePatch(res.json);
      if (patch.length) {
        expect(res.json.response.patchType).toBe('JSONPatch');
        const applied = fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
        expect(applied).toEqual(expected.pod);
        expect(res.json.response.auditAnnotations.injected).toMatch(/^[a-z0-9-]+:(agent|streaming)/);
      } else {
        expect(res.json.response.patchType).toBeUndefined();
        expect(expected.pod).toEqual(pod);
      }
      if (!expected.allowed) expect(res.json.response.status.message).toBe(expected.denial);
    });

    it('through /preview gives the core result', async () => {
      const q = c.enforcement === 'required' ? '&required=true' : '';
      const res = await server.preview.post(`/preview?namespace=${c.namespace}${q}`, JSON.stringify(c.input));
      expect(res.status).toBe(200);
      expect(res.json).toEqual(JSON.parse(JSON.stringify(runPreview(c))));
    });
  });

  it('previews YAML and answers ?output=yaml with the mutated manifest', async () => {
    const res = await server.preview.post('/preview?output=yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: team-a\n  annotations:\n    sidelog.io/streams: "- path: /var/log/a/a.log"\nspec:\n  containers: [{name: a, image: a}]\n', 'application/yaml');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    expect(res.text).toContain('name: sidelog-a');
    expect(res.text).toContain('sidelog.io/status:');
  });

  it('answers a dry-run review like any other (no side effects)', async () => {
    const c = cases.find((x) => x.name === 'mixed-native')!;
    const pod = podOf(c.input);
    const dry = await server.client.post('/mutate', JSON.stringify(admissionReview(pod, { dryRun: true })));
    const wet = await server.client.post('/mutate', JSON.stringify(admissionReview(pod)));
    // The same operations as any other review, and they make the pod preview shows.
    expect(decodePatch(dry.json)).toEqual(decodePatch(wet.json));
    expect(fastJsonPatch.applyPatch(structuredClone(pod), decodePatch(dry.json), true, false).newDocument).toEqual(runPreview(c).mutated);
  });

  it('takes the namespace from the request, not the object (controller-made pods have none)', async () => {
    const pod = { metadata: { generateName: 'x-', annotations: { 'sidelog.io/streams': '- {path: /var/log/a/a.log, output: es-main}' } }, spec: { containers: [{ name: 'a', image: 'a' }] } };
    const inTeamA = await server.client.post('/mutate', JSON.stringify(admissionReview(pod, { namespace: 'team-a' })));
    const inTeamB = await server.client.post('/mutate', JSON.stringify(admissionReview(pod, { namespace: 'team-b' })));
    expect(inTeamA.json.response.patchType).toBe('JSONPatch');
    expect(inTeamB.json.response.patch).toBeUndefined();
    expect(inTeamB.json.response.warnings[0]).toContain('output "es-main" is not allowed in namespace team-b');
  });

  it.each([
    ['UPDATE of a pod', { operation: 'UPDATE' }, 'operation'],
    ['a Deployment', { kind: 'Deployment' }, 'kind'],
  ])('allows %s unchanged', async (_what, opts, reason) => {
    const c = cases.find((x) => x.name === 'mixed-native')!;
    const res = await server.client.post('/mutate', JSON.stringify(admissionReview(podOf(c.input), opts)));
    expect(res.status).toBe(200);
    expect(res.json.response).toEqual({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true, auditAnnotations: { skipped: reason } });
  });

  describe('bad input', () => {
    const good = () => JSON.stringify(admissionReview(podOf(cases.find((x) => x.name === 'mixed-native')!.input)));
    it.each([
      ['malformed JSON', '/mutate', '{"apiVersion": ', 'application/json', 400, 'BAD_JSON'],
      ['an empty body', '/mutate', '', 'application/json', 400, 'EMPTY_BODY'],
      ['a wrong content type', '/mutate', good(), 'application/yaml', 415, 'MEDIA_TYPE'],
      ['an unknown content type', '/mutate', good(), 'application/xml', 415, 'MEDIA_TYPE'],
      ['no request', '/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'application/json', 400, 'BAD_REVIEW'],
      ['no uid', '/mutate', JSON.stringify({ ...admissionReview({}), request: { ...admissionReview({}).request, uid: undefined } }), 'application/json', 400, 'BAD_REVIEW'],
      ['a wrong apiVersion', '/mutate', JSON.stringify({ ...admissionReview({}), apiVersion: 'admission.k8s.io/v2' }), 'application/json', 400, 'BAD_REVIEW'],
      ['an over-limit body', '/mutate', JSON.stringify({ pad: 'x'.repeat(300 * 1024) }), 'application/json', 413, 'TOO_LARGE'],
      ['a preview over its 1 MiB limit', '/preview', JSON.stringify({ kind: 'Pod', pad: 'x'.repeat(1100 * 1024) }), 'application/json', 413, 'TOO_LARGE'],
      ['a preview of a Service', '/preview', JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }), 'application/json', 400, 'BAD_MANIFEST'],
      ['a preview of broken YAML', '/preview', 'kind: Pod\n  spec: [', 'application/yaml', 400, 'BAD_YAML'],
      ['a bad preview query', '/preview?output=xml', '{}', 'application/json', 400, 'BAD_QUERY'],
      ['an unknown path', '/mutate/sometimes', good(), 'application/json', 404, 'NOT_FOUND'],
    ])('%s gets a clear %d and the next request is served', async (_what, path, body, type, status, code) => {
      const res = await (path.startsWith('/preview') ? server.preview : server.client).post(path, body, type);
      expect(res.status).toBe(status);
      expect(res.json.error.code).toBe(code);
      expect(res.json.error.message.length).toBeGreaterThan(10);
      const next = await server.client.post('/mutate', good());
      expect(next.status).toBe(200);
      expect(next.json.response.patchType).toBe('JSONPatch');
    });

    it('names the missing field of a review', async () => {
      const res = await server.client.post('/mutate', JSON.stringify({ ...admissionReview({}), request: { ...admissionReview({}).request, uid: undefined } }));
      expect(res.json.error.message).toContain('request.uid');
    });

    it('allows a pod that does not validate, with a warning, and keeps serving', async () => {
      const res = await server.client.post('/mutate', JSON.stringify(admissionReview({ metadata: { annotations: { 'sidelog.io/streams': '- path: /var/log/a/a.log' } }, spec: { containers: 'nope' } })));
      expect(res.status).toBe(200);
      expect(res.json.response.allowed).toBe(true);
      expect(res.json.response.patch).toBeUndefined();
      expect(res.json.response.warnings[0]).toMatch(/^sidelog: pod\.spec\.containers: /);
    });

    it('counts refused requests in the metrics', async () => {
      const res = await server.preview.get('/metrics');
      expect(res.text).toMatch(/sidelog_bad_requests_total\{code="TOO_LARGE"\} [1-9]/);
      expect(res.text).toMatch(/sidelog_bad_requests_total\{code="BAD_JSON"\} [1-9]/);
    });
  });

  it('counts how answers were found: worked out, remembered by the bytes, remembered by the pod shape', async () => {
    const count = async (found: string) => Number(new RegExp(`^sidelog_review_answers_total\\{found="${found}"\\} (\\d+)$`, 'm').exec((await server.preview.get('/metrics')).text)?.[1] ?? 0);
    const before = { bytes: await count('bytes'), shape: await count('shape'), worked: await count('worked-out') };
    const pod = { metadata: { name: 'counted', labels: { n: '0' }, annotations: { 'sidelog.io/streams': '- path: /var/log/counted/c.log' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
    const send = (object: unknown, uid: string) => server.client.post('/mutate', JSON.stringify(admissionReview(object, { uid, namespace: 'team-a' })));
    // The same bytes three times: worked out twice (admitted on the second), then remembered.
    for (const uid of ['m1', 'm2', 'm3']) expect((await send(pod, uid)).status).toBe(200);
    // Siblings (another label value each, the same shape): found by the shape, admitted with the first two.
    for (const n of [1, 2]) expect((await send({ ...pod, metadata: { ...pod.metadata, labels: { n: String(n) } } }, `s${n}`)).status).toBe(200);
    expect({ bytes: await count('bytes'), shape: await count('shape'), worked: await count('worked-out') }).toEqual({ bytes: before.bytes + 1, shape: before.shape + 2, worked: before.worked + 2 });
  });

  it('sends a remembered answer as it sends a fresh one: the same headers, its byte length, the uid spliced in, and times it', async () => {
    const pod = { metadata: { name: 'parts', labels: { n: '0' }, annotations: { 'sidelog.io/streams': '- path: /var/log/parts/p.log' } }, spec: { containers: [{ name: 'c', image: 'c' }] } };
    const send = (object: unknown, uid: string) => server.client.post('/mutate', JSON.stringify(admissionReview(object, { uid, namespace: 'team-a' })));
    const timed = async () => Number(/^sidelog_request_duration_seconds_count\{route="\/mutate"\} (\d+)$/m.exec((await server.preview.get('/metrics')).text)?.[1]);
    const fresh = await send(pod, 'p1');
    await send(pod, 'p2');
    const timedBefore = await timed();
    // Uids of several bytes a character: the length sent must be in bytes, or the client reads a cut answer.
    const hits = [await send(pod, 'ид-3'), await send({ ...pod, metadata: { ...pod.metadata, labels: { n: '1' } } }, '日本-4')];
    const names = (headers: Record<string, unknown>) => Object.keys(headers).filter((h) => h !== 'date').sort();
    for (const [i, hit] of hits.entries()) {
      expect(hit.status).toBe(200);
      expect(names(hit.headers)).toEqual(names(fresh.headers));
      expect(hit.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(hit.headers['content-type']).toBe(fresh.headers['content-type']);
      expect(Number(hit.headers['content-length'])).toBe(Buffer.byteLength(hit.text));
      expect(hit.json).toEqual({ ...fresh.json, response: { ...fresh.json.response, uid: ['ид-3', '日本-4'][i] } });
    }
    expect(await timed()).toBe(timedBefore + 2);
  });

  it('reports health and readiness', async () => {
    expect((await server.client.get('/healthz')).json).toEqual({ status: 'ok' });
    const ready = await server.client.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', policy: policyFile });
  });

  it('serves Prometheus metrics: requests, outcomes, latency, injections, skips, reloads, certificate expiry', async () => {
    const text = (await server.preview.get('/metrics')).text;
    expect(text).toMatch(/sidelog_requests_total\{route="mutate",outcome="injected"\} [1-9]/);
    expect(text).toMatch(/sidelog_requests_total\{route="mutate",outcome="skipped"\} [1-9]/);
    expect(text).toMatch(/sidelog_requests_total\{route="mutate",outcome="denied"\} [1-9]/);
    expect(text).toMatch(/sidelog_request_duration_seconds_bucket\{le="0.005",route="\/mutate"\} [1-9]/);
    expect(text).toMatch(/sidelog_injections_total\{mode="agent",agent="fluent-bit",output_type="kafka"\} [1-9]/);
    expect(text).toMatch(/sidelog_injections_total\{mode="streaming",agent="",output_type=""\} [1-9]/);
    expect(text).toMatch(/sidelog_skips_total\{reason="not-requested"\} [1-9]/);
    expect(text).toMatch(/sidelog_policy_reloads_total\{result="success"\} [1-9]/);
    const expiry = Number(/^sidelog_certificate_expiry_seconds (\S+)$/m.exec(text)?.[1]);
    expect(expiry).toBeGreaterThan(300 * 24 * 3600);
    expect(text).toContain('sidelog_process_resident_memory_bytes');
  });

  it('reloads the policy on change, refuses a bad one and keeps the last good one', async () => {
    const podIn = (ns: string) => JSON.stringify(admissionReview({ metadata: { annotations: { 'sidelog.io/streams': '- {path: /var/log/a/a.log, output: stdout}' } }, spec: { containers: [{ name: 'a', image: 'a' }] } }, { namespace: ns }));
    expect((await server.client.post('/mutate', podIn('team-z'))).json.response.patch).toBeUndefined();
    writeFileSync(policyFile, `${cases[0]!.policyText}\n  team-z: {outputs: [stdout]}\n`);
    await waitFor(async () => (await server.client.post('/mutate', podIn('team-z'))).json.response.patch !== undefined, 'the new policy');

    writeFileSync(policyFile, 'outputs:\n  broken: {type: kafka}\n');
    await waitFor(async () => (await server.client.get('/readyz')).json.policyError !== undefined, 'the refusal');
    const ready = await server.client.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.policyError).toContain('outputs.broken.brokers');
    expect((await server.client.post('/mutate', podIn('team-z'))).json.response.patch).toBeDefined();
    expect((await server.preview.get('/metrics')).text).toMatch(/sidelog_policy_reloads_total\{result="failure"\} [1-9]/);

    writeFileSync(policyFile, cases[0]!.policyText);
    await waitFor(async () => (await server.client.get('/readyz')).json.policyError === undefined, 'recovery');
  });
});

describe('a remembered answer whose sending fails', () => {
  it('destroys the connection and logs the error: a hijacked reply left unanswered would hold its connection forever', () => {
    const failure = new Error('cannot write');
    const destroyed: unknown[] = [];
    const logged: unknown[] = [];
    const reply = {
      hijack: () => undefined,
      raw: {
        writeHead: () => {
          throw failure;
        },
        destroy: (err: unknown) => destroyed.push(err),
      },
      log: { error: (fields: unknown) => logged.push(fields) },
    } as unknown as FastifyReply;
    expect(sendParts(reply, new AnswerParts('{"uid":"u"', Buffer.from('}')))).toBe(reply);
    expect(destroyed).toEqual([failure]);
    expect(logged).toEqual([{ err: failure }]);
  });
});
