/**
 * A review's shape: the review without the fields that neither sidelog's answer nor its
 * validation depends on, so that the pods which differ only there get the same answer, and can
 * share one remembered answer. The shape is read off the review's raw bytes (review-bytes.ts),
 * never parsed; these lists say what it leaves out.
 *
 * The pods of one workload often differ at admission in exactly such fields:
 *  - a StatefulSet's pods in their name, `hostname`, `statefulset.kubernetes.io/pod-name` label
 *    and, with volume claim templates, the `claimName` of each claim's volume;
 *  - a DaemonSet's pods in the node affinity that pins each one to its node;
 *  - a CronJob's Jobs' pods in their `controller-uid` and `job-name` labels (an Indexed Job's pods
 *    differ in their completion-index annotation: another shape each);
 *  - the pods of a Deployment's new ReplicaSet in their `pod-template-hash` label, and usually in
 *    the image or env of a container (the change being rolled out).
 * sidelog reads none of these: `mutate` reads the pod's annotations, its containers' names, mounts
 * and ports, its volumes' names and kinds, security context, OS, restart policy and grace period
 * (PodSchema and the planner), and checks only that a name is a string. So the shape keeps
 * everything except:
 *  - of the request: anything but `kind`, `subResource`, `namespace`, `operation`, `dryRun`, the
 *    pod (`object`), and the *kind* of `name` (the uid is spliced into the answer);
 *  - metadata: anything but `annotations`, `namespace`, and the *kind* of `name` and `generateName`;
 *  - spec: `affinity`, `nodeName`, `hostname`, `subdomain`;
 *  - each container (app, init, ephemeral): `image`, `env`, `envFrom`;
 *  - each volume's `persistentVolumeClaim.claimName`.
 *
 * Whatever is left out must stay unread: test/core/pod-shape.test.ts runs `mutate` and
 * `answerReview` on every golden and on generated pods behind a proxy that fails on any read of a
 * left-out field, and checks that changing those fields (to other values, and to values of the
 * wrong type) never changes an answer, while the shape stays the same.
 */

/** Kept of the request as they are (besides the pod, the uid, spliced, and the kind of `name`). */
export const READ_REQUEST_FIELDS: ReadonlySet<string> = new Set(['kind', 'subResource', 'namespace', 'operation', 'dryRun']);

/** Left out of every container. */
export const UNREAD_CONTAINER_FIELDS: ReadonlySet<string> = new Set(['image', 'env', 'envFrom']);
/** Left out of the spec. */
export const UNREAD_SPEC_FIELDS: ReadonlySet<string> = new Set(['affinity', 'nodeName', 'hostname', 'subdomain']);
/** The only metadata fields kept (`name` and `generateName` by their kind only). */
export const READ_METADATA_FIELDS: ReadonlySet<string> = new Set(['annotations', 'namespace', 'name', 'generateName']);
export const CONTAINER_LISTS: readonly string[] = ['containers', 'initContainers', 'ephemeralContainers'];
/** Left out of a volume's `persistentVolumeClaim`. */
export const UNREAD_CLAIM_FIELDS: ReadonlySet<string> = new Set(['claimName']);
