/**
 * POST /preview over real TLS with what users pipe into it: a multi-document file whose other
 * kinds pass through unchanged, warnings naming their document, a List that stays a List, and a
 * StatefulSet whose claim the pod reuses (the same previewManifest the CLI runs).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { type TestServer, startTestServer } from './client.js';

const ROOT = resolve(import.meta.dirname, '../..');
const example = (f: string) => readFileSync(join(ROOT, 'examples', f), 'utf8');
const BAD = readFileSync(join(ROOT, 'test/golden/cases/invalid-enabled-partial/input.yaml'), 'utf8');

describe('/preview with manifests as users write them', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ policy: join(ROOT, 'examples/policy.yaml'), kubeVersion: '1.30' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('passes a Service through and labels each result with its document', async () => {
    const res = await server.preview.post('/preview', example('deployment.yaml'), 'application/yaml');
    expect(res.status).toBe(200);
    expect(res.json.map((r: { kind: string; label: string; patch: unknown[] }) => [r.kind, r.label, r.patch.length > 0])).toEqual([
      ['Service', 'body (document 1)', false],
      ['Deployment', 'body (document 2)', true],
    ]);
    const yaml = await server.preview.post('/preview?output=yaml', example('deployment.yaml'), 'application/yaml');
    const docs = parseAllDocuments(yaml.text).map((d) => d.toJS());
    expect(docs[0]).toEqual(parseAllDocuments(example('deployment.yaml'))[0]!.toJS());
    expect(docs[1].spec.template.metadata.annotations['sidelog.io/status']).toBeDefined();
  });

  it('says which document a warning belongs to', async () => {
    const res = await server.preview.post('/preview?output=yaml', `${example('pod.yaml')}---\n${BAD}`, 'application/yaml');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^# Warning: body \(document 2\): sidelog: sidelog\.io\/streams\[0\]\.path: must be absolute$/m);
  });

  it('answers a List with a List', async () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [parseYaml(example('streaming-file.yaml')), parseYaml(example('critical-stream.yaml'))] };
    const res = await server.preview.post('/preview?output=yaml', JSON.stringify(list), 'application/json');
    expect(res.status).toBe(200);
    const out = parseYaml(res.text);
    expect([out.kind, out.items.length]).toEqual(['List', 2]);
    for (const item of out.items) expect(item.metadata.annotations['sidelog.io/status']).toBeDefined();
  });

  it('shows a StatefulSet pod reading its own claim', async () => {
    const res = await server.preview.post('/preview', example('statefulset-claim.yaml'), 'application/yaml');
    expect(res.status).toBe(200);
    const volumes = res.json.pod.spec.volumes as Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
    expect(volumes.find((v) => v.name === 'logs')).toEqual({ name: 'logs', persistentVolumeClaim: { claimName: 'logs-db-0' } });
    expect(volumes.filter((v) => v.name.startsWith('sidelog-logs'))).toEqual([]);
    expect(res.json.mutated.spec.template.spec.volumes.map((v: { name: string }) => v.name)).not.toContain('logs');
  });
});
