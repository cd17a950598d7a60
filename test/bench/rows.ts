/**
 * What the bench's rows send, for `npm run bench` (bench.ts) and `npm run bench:instructions`
 * (instructions.ts) alike, so both measure the same requests.
 *
 * The realistic review: test/golden/cases/mixed-native, a two-container pod asking for three
 * streams, agent and streaming mixed. What a row sends:
 * - `identical`: the realistic review, always the same bytes (a ReplicaSet's pods: answered by the
 *   bytes after the second);
 * - `distinct`: each pod with its own `pod-template-hash` label, so no two requests share their
 *   bytes; their shape (what sidelog reads) is one (a DaemonSet's pods, a StatefulSet's, a
 *   CronJob's Jobs', a rollout's: answered by the shape after the second);
 * - `shapes`: each pod with one more container of its own name, so no two requests share their
 *   bytes or their shape, and every one is worked out in full (only the memos of what repeats
 *   inside a review help: the rendered config, the parsed annotation, the patch's long strings).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './scenarios.js';


export type Requests = 'identical' | 'distinct' | 'shapes';

/** A two-container pod asking for three streams, agent and streaming mixed. */
export const pod = parseYaml(readFileSync(join(ROOT, 'test/golden/cases/mixed-native/input.yaml'), 'utf8'));
export const review = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'bench', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'team-a', operation: 'CREATE', object: pod, dryRun: false },
};
export const body = JSON.stringify(review);

/** A review's JSON with one more container in front, `extra-@@` (`@@` filled per request): a new shape each. */
export const newShapes = (reviewJson: string) => reviewJson.replace('"containers":[', '"containers":[{"name":"extra-@@","image":"registry.example.com/extra:1"},');
const distinctTemplate = body.replace('"labels":{"app":"shop"}', '"labels":{"app":"shop","pod-template-hash":"@@"}');
const shapeTemplate = newShapes(body);

/** Whether the templates found what they edit (`@@` in each). */
export const templatesApply = (...more: string[]) => [distinctTemplate, shapeTemplate, ...more].every((t) => t.includes('@@'));

let counter = 0;
/** A tag no request of this process had: `prefix` and a counter. */
export const uniqueTag = (prefix: string) => `${prefix}${counter++}`;

/** The body of the next request of a row (`identical`: always the same). */
export function nextBody(requests: Requests, prefix: string): string {
  if (requests === 'identical') return body;
  return (requests === 'distinct' ? distinctTemplate : shapeTemplate).replace('@@', uniqueTag(prefix));
}
