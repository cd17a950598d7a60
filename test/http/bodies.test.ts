/**
 * Any body a client can send gets a 4xx or a well-formed answer, never a 500 (issue 8): deep
 * nesting, `__proto__` keys, compressed bodies, wrong types and wrong content types, on both
 * listeners, over real TLS. And a request over the in-flight cap is answered at once.
 */
import { connect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { type TestServer, admissionReview, client, decodePatch, startTestServer } from './client.js';

const STREAMS = '- {path: /var/log/a/a.log, output: stdout, parser: json}';
const pod = () => ({ metadata: { labels: { app: 'a' }, annotations: { 'sidelog.io/streams': STREAMS } }, spec: { containers: [{ name: 'a', image: 'a' }] } });

/** `depth` levels of nested arrays (or objects) as JSON text, around `inner`. */
const nested = (depth: number, inner = '1', object = false) => (object ? '{"a":'.repeat(depth) + inner + '}'.repeat(depth) : '['.repeat(depth) + inner + ']'.repeat(depth));

describe('bodies a client can send', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ kubeVersion: '1.30', maxReviews: 2, maxReviewBytes: 8 * 1024 * 1024 });
  });
  afterAll(async () => {
    await server.close();
  });

  describe('__proto__ keys: valid JSON, answered, and no prototype changes', () => {
    // Built as text: an object literal's __proto__ would set the prototype instead of a key.
    const protoPod = JSON.stringify(pod())
      .replace('"labels":{', '"labels":{"__proto__":"x","constructor":"y",')
      .replace('"annotations":{', '"annotations":{"__proto__":{"polluted":"yes"},')
      .replace('"spec":{', '"spec":{"__proto__":{"containers":[]},');
    const body = JSON.stringify(admissionReview({})).replace('"object":{}', `"object":${protoPod}`);

    it('through /mutate: 200, the sidecar injected, the patch applying to the pod as sent', async () => {
      const res = await server.client.post('/mutate', body);
      expect(res.status).toBe(200);
      expect(res.json.response.allowed).toBe(true);
      expect(res.json.response.patchType).toBe('JSONPatch');
      const sent = JSON.parse(protoPod);
      const applied = fastJsonPatch.applyPatch(sent, decodePatch(res.json), true, false).newDocument as any;
      expect(Object.hasOwn(applied.metadata.labels, '__proto__')).toBe(true);
      expect(applied.spec.initContainers.map((c: { name: string }) => c.name)).toContain('sidelog-agent');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('containers');
    });

    it('through /preview (JSON and YAML): 200 with the preview', async () => {
      const json = await server.preview.post('/preview?namespace=team-a', protoPod.replace('"metadata":{', '"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",'));
      expect(json.status).toBe(200);
      expect(json.json.allowed).toBe(true);
      const yaml = await server.preview.post('/preview?namespace=team-a', `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {__proto__: x}\n  annotations:\n    __proto__: {polluted: yes}\n    sidelog.io/streams: "- path: /var/log/a/a.log"\nspec:\n  containers: [{name: a, image: a}]\n`, 'application/yaml');
      expect(yaml.status).toBe(200);
      expect(yaml.json.mutated.metadata.labels).toEqual(JSON.parse('{"__proto__":"x"}'));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('deep nesting: 400 TOO_DEEP before anything recurses', () => {
    it.each([
      ['5,000 nested arrays in the pod', () => JSON.stringify(admissionReview({})).replace('"object":{}', `"object":{"metadata":{},"spec":{"x":${nested(5000)}}}`)],
      ['5,000 nested objects in the pod', () => JSON.stringify(admissionReview({})).replace('"object":{}', `"object":{"spec":{"x":${nested(5000, '1', true)}}}`)],
      ['101 levels', () => JSON.stringify(admissionReview({})).replace('"object":{}', `"object":{"spec":${nested(98, '{}', true)}}`)],
    ])('/mutate: %s', async (_what, body) => {
      const res = await server.client.post('/mutate', body());
      expect([res.status, res.json.error.code, res.json.error.message]).toEqual([400, 'TOO_DEEP', expect.any(String)]);
    });

    it('/mutate: 90 levels is no problem (deeper than any pod, answered as usual)', async () => {
      const body = JSON.stringify(admissionReview(pod())).replace('"spec":{', `"spec":{"x":${nested(80)},`);
      const res = await server.client.post('/mutate', body);
      expect(res.status).toBe(200);
      expect(res.json.response.allowed).toBe(true);
    });

    it.each([
      ['JSON', 'application/json', `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":${nested(5000)}}`],
      ['YAML flow', 'application/yaml', `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: ${nested(5000)}\n`],
      ['YAML blocks (1,400 levels, as deep as 1 MiB allows)', 'application/yaml', `apiVersion: v1\nkind: Pod\nspec:\n${Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i + 1)}a:`).join('\n')} 1\n`],
      // Two bytes a level: deeper than the parser's stack can go, which is a depth problem too, not BAD_YAML.
      ['YAML block sequences (50,000 levels on one line)', 'application/yaml', `apiVersion: v1\nkind: Pod\nspec:\n  ${'- '.repeat(50_000)}1\n`],
    ])('/preview: deeply nested %s', async (_what, type, body) => {
      const res = await server.preview.post('/preview', body, type);
      expect([res.status, res.json.error.code, res.json.error.message]).toEqual([400, 'TOO_DEEP', expect.any(String)]);
    });
  });

  describe('compressed bodies: 415 ENCODING, not "invalid JSON"', () => {
    it.each([
      ['/mutate', 'client'],
      ['/preview', 'preview'],
    ] as const)('%s with Content-Encoding: gzip', async (path, which) => {
      const gz = client(which === 'client' ? server.running.port : server.running.previewPort, server.ca, { headers: { 'content-encoding': 'gzip' } });
      try {
        const res = await gz.post(path, gzipSync(JSON.stringify(admissionReview(pod()))));
        expect([res.status, res.json.error.code]).toEqual([415, 'ENCODING']);
        expect(res.json.error.message).toContain('gzip');
      } finally {
        gz.close();
      }
    });
  });

  describe('wrong types: 400 with the field named', () => {
    const base = admissionReview(pod());
    it.each([
      ['a JSON array', '[1,2]', 'BAD_REVIEW'],
      ['a JSON string', '"review"', 'BAD_REVIEW'],
      ['a JSON number', '42', 'BAD_REVIEW'],
      ['null', 'null', 'BAD_REVIEW'],
      ['a numeric uid', JSON.stringify({ ...base, request: { ...base.request, uid: 7 } }), 'BAD_REVIEW'],
      ['a string request', JSON.stringify({ ...base, request: 'x' }), 'BAD_REVIEW'],
      ['an array request', JSON.stringify({ ...base, request: [base.request] }), 'BAD_REVIEW'],
      ['a uid of 300 characters', JSON.stringify({ ...base, request: { ...base.request, uid: 'u'.repeat(300) } }), 'BAD_REVIEW'],
      ['invalid UTF-8 around valid JSON', '{"apiVersion": "\udc00"', 'BAD_JSON'],
    ])('/mutate: %s', async (_what, body, code) => {
      const res = await server.client.post('/mutate', body);
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe(code);
    });

    it.each([
      ['a pod as a string', '"pod"', 'BAD_MANIFEST'],
      ['a number', '7', 'BAD_MANIFEST'],
      ['a list of numbers', '[1, 2]', 'BAD_MANIFEST'],
      ['a pod whose containers are a string', '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":"x"}}', undefined],
    ])('/preview: %s', async (_what, body, code) => {
      const res = await server.preview.post('/preview', body);
      if (code === undefined) {
        // Not refused: previewed, with the warning the webhook would give.
        expect(res.status).toBe(200);
        expect(res.json.allowed).toBe(true);
      } else {
        expect([res.status, res.json.error.code]).toEqual([400, code]);
      }
    });

    it('a pod whose object is a string is answered (allowed, nothing injected)', async () => {
      const res = await server.client.post('/mutate', JSON.stringify({ ...base, request: { ...base.request, object: 'pod' } }));
      expect(res.status).toBe(200);
      expect(res.json.response.allowed).toBe(true);
      expect(res.json.response.patch).toBeUndefined();
    });
  });

  describe('content types', () => {
    it.each([
      ['/mutate', 'client', 'application/yaml'],
      ['/mutate', 'client', 'text/plain'],
      ['/mutate', 'client', 'application/x-www-form-urlencoded'],
      ['/preview', 'preview', 'application/xml'],
      ['/preview', 'preview', 'multipart/form-data; boundary=x'],
    ] as const)('%s with %s: 415 MEDIA_TYPE', async (path, which, type) => {
      const res = await server[which === 'client' ? 'client' : 'preview'].post(path, JSON.stringify(admissionReview(pod())), type);
      expect([res.status, res.json.error.code]).toEqual([415, 'MEDIA_TYPE']);
    });
  });

  describe('paths on the wrong listener: 404', () => {
    it.each([
      ['/preview', 'client'],
      ['/metrics', 'client'],
      ['/mutate', 'preview'],
    ] as const)('%s', async (path, which) => {
      const c = server[which === 'client' ? 'client' : 'preview'];
      const res = path === '/metrics' ? await c.get(path) : await c.post(path, '{}');
      expect([res.status, res.json.error.code]).toEqual([404, 'NOT_FOUND']);
    });
  });

  describe('generated bodies', () => {
    /** A 4xx from the table, or a well-formed answer: never a 500, never a malformed body. */
    const wellFormed = (res: { status: number; json: any }, ok: (json: any) => boolean) =>
      res.status < 500 && (res.status === 200 ? ok(res.json) : typeof res.json?.error?.code === 'string' && typeof res.json.error.message === 'string');
    const keys = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'metadata', 'spec', 'containers', 'annotations', 'sidelog.io/streams', 'uid', 'request'), fc.string());
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 2 }), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(keys, tie('v'), { maxKeys: 4 })),
    })).v;
    /** As JSON; fast-check's dictionaries make `__proto__` an own key, which JSON.stringify keeps. */
    const obj = (v: unknown) => JSON.stringify(v);

    it('/mutate: reviews with generated objects and fields', async () => {
      await fc.assert(
        fc.asyncProperty(value, value, fc.constantFrom('object', 'request', 'root'), async (v, w, where) => {
          const base = admissionReview(pod(), { uid: 'gen' });
          const body =
            where === 'object'
              ? JSON.stringify(base).replace('"object":{', () => `"object":{"x":${obj(v)},"metadata":${obj(w)},"y":{`).replace('"oldObject"', '"z":0},"oldObject"')
              : where === 'request'
                ? JSON.stringify(base).replace('"request":{', () => `"request":{"extra":${obj(v)},"object":${obj(w)},`)
                : obj(v);
          JSON.parse(body); // every generated body is valid JSON: none may be called invalid
          const res = await server.client.post('/mutate', body);
          return wellFormed(res, (j) => j.kind === 'AdmissionReview' && j.response.uid === 'gen' && typeof j.response.allowed === 'boolean') && res.json?.error?.code !== 'BAD_JSON';
        }),
        { numRuns: 150 },
      );
    });

    it('/preview: generated manifests, JSON and YAML', async () => {
      await fc.assert(
        fc.asyncProperty(value, fc.boolean(), async (v, asYaml) => {
          const manifest = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: v };
          const body = asYaml ? `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: ${obj(v)}\n` : obj(manifest);
          const res = await server.preview.post('/preview?namespace=team-a', body, asYaml ? 'application/yaml' : 'application/json');
          return wellFormed(res, (j) => typeof j.allowed === 'boolean' && Array.isArray(j.patch));
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('in-flight cap', () => {
    it('answers 429 BUSY with Retry-After at once when the reviews in flight fill the cap, and serves again after', async () => {
      // Two reviews in flight (the cap), each with half of its body sent.
      const body = Buffer.from(JSON.stringify(admissionReview(pod())));
      const held = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<ReturnType<typeof connect>>((resolve, reject) => {
              const socket = connect({ host: '127.0.0.1', port: server.running.port, ca: server.ca, servername: 'localhost' }, () => {
                socket.write(`POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
                socket.write(body.subarray(0, 10));
                resolve(socket);
              });
              socket.on('error', reject);
            }),
        ),
      );
      const reviewsInFlight = async () => Number(/^sidelog_in_flight_requests\{cap="reviews"\} (\d+)$/m.exec((await server.preview.get('/metrics')).text)?.[1] ?? 0);
      try {
        // Wait until the server holds both: a review sent before then could take a held request's
        // slot and have that request refused instead (its TLS handshake and headers may still be
        // on their way while a review on a kept-alive connection arrives). The gauge is on the
        // preview listener, so asking takes no review slot.
        for (let i = 0; i < 500 && (await reviewsInFlight()) < 2; i++) await new Promise((r) => setTimeout(r, 10));
        expect(await reviewsInFlight()).toBe(2);
        const res = await server.client.post('/mutate', body);
        expect([res.status, res.json?.error?.code]).toEqual([429, 'BUSY']);
        expect(res.headers['retry-after']).toBe('1');
        const answers = held.map(
          (s) =>
            new Promise<string>((resolve) => {
              let text = '';
              s.on('data', (d: Buffer) => {
                text += d.toString();
                if (text.includes('"AdmissionReview"')) resolve(text);
              });
            }),
        );
        for (const s of held) s.write(body.subarray(10));
        for (const text of await Promise.all(answers)) expect(text).toMatch(/^HTTP\/1\.1 200/);
        const after = await server.client.post('/mutate', body);
        expect(after.status).toBe(200);
      } finally {
        for (const s of held) s.destroy();
      }
    });

    it('counts refusals, and shows what is in flight', async () => {
      const text = (await server.preview.get('/metrics')).text;
      expect(text).toMatch(/sidelog_bad_requests_total\{code="BUSY"\} [1-9]/);
      expect(text).toMatch(/^sidelog_in_flight_requests\{cap="reviews"\} 0$/m);
      expect(text).not.toMatch(/^sidelog_in_flight_requests\{cap="previews"\} [1-9]/m);
    });
  });
});
