/**
 * Default images are pinned to released version tags (issue 7: the default Loki image floated on
 * `:main`): every image sidelog defaults to, the base of sidelog's own Fluentd image and the gems in
 * it. A floating tag changes what runs without any change to sidelog or the policy.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_IMAGES, SIDELOG_FLUENTD_IMAGE, policyFromObject } from '../../webhook/core/policy.js';

const FLOATING = /^(latest|main|master|edge|nightly|dev|stable|head)(-|$)/i;
/** A tag that names a release: a version with at least major.minor.patch, optionally prefixed `v`. */
const PINNED_TAG = /^v?\d+\.\d+\.\d+([.-][A-Za-z0-9.-]+)?$/;

function tagOf(image: string): string | undefined {
  const at = image.indexOf('@');
  if (at >= 0) return undefined; // a digest pins by itself
  const slash = image.lastIndexOf('/');
  const colon = image.indexOf(':', slash + 1);
  return colon >= 0 ? image.slice(colon + 1) : undefined;
}

const pinned = (image: string) => {
  const tag = tagOf(image);
  return image.includes('@sha256:') || (tag !== undefined && !FLOATING.test(tag) && PINNED_TAG.test(tag));
};

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('default images', () => {
  const defaults = policyFromObject({}).defaults;
  const all: Array<[string, string]> = [
    ['fluent-bit', defaults.images['fluent-bit']],
    ['streaming', defaults.images.streaming],
    ...Object.entries(typeof defaults.images.fluentd === 'string' ? { fluentd: defaults.images.fluentd } : defaults.images.fluentd),
    ...Object.entries(DEFAULT_IMAGES.fluentd),
  ];

  it.each(all)('%s: %s is pinned to a release tag', (_, image) => {
    expect(pinned(image)).toBe(true);
  });

  it('the checker refuses floating and missing tags', () => {
    for (const bad of ['grafana/fluent-plugin-loki:main', 'busybox', 'busybox:latest', 'fluent/fluentd:edge-debian', 'x/y:1.19', 'reg:5000/x']) expect([bad, pinned(bad)]).toEqual([bad, false]);
    for (const good of ['busybox:1.37.0', 'fluent/fluentd:v1.19.3-debian-1.0', 'reg:5000/x:1.2.3', 'x@sha256:abc']) expect([good, pinned(good)]).toEqual([good, true]);
  });

  it("sidelog's Fluentd image is the default for every output type and is released with sidelog's version", () => {
    const version = JSON.parse(read('../../package.json')).version as string;
    expect(tagOf(SIDELOG_FLUENTD_IMAGE)).toBe(version);
    expect(DEFAULT_IMAGES.fluentd).toEqual({ default: SIDELOG_FLUENTD_IMAGE });
    expect(read('../../sidecar-templates/fluentd/Dockerfile')).toContain(`docker build -t ${SIDELOG_FLUENTD_IMAGE} `);
  });

  it("sidelog's Fluentd image builds from a pinned base and pins every gem the configs name", () => {
    const dockerfile = read('../../sidecar-templates/fluentd/Dockerfile');
    const from = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(from.length).toBeGreaterThan(0);
    for (const image of from) expect([image, pinned(image)]).toEqual([image, true]);
    const gemfile = read('../../sidecar-templates/fluentd/Gemfile');
    const gems = [...gemfile.matchAll(/^gem\s+"([^"]+)"(?:,\s*"([^"]+)")?/gm)].map((m) => [m[1]!, m[2]] as const);
    for (const [name, version] of gems) expect([name, /^\d+\.\d+\.\d+$/.test(version ?? '')]).toEqual([name, true]);
    // The plugin of every output type (google_cloud: installed by the Dockerfile, pinned there).
    const names = new Set(gems.map(([n]) => n));
    for (const gem of ['fluentd', 'fluent-plugin-kafka', 'fluent-plugin-elasticsearch', 'fluent-plugin-opensearch', 'fluent-plugin-grafana-loki', 'fluent-plugin-s3', 'fluent-plugin-cloudwatch-logs', 'fluent-plugin-remote_syslog', 'fluent-plugin-prometheus']) {
      expect([gem, names.has(gem)]).toEqual([gem, true]);
    }
    expect(dockerfile).toMatch(/fluent-plugin-google-cloud -v \d+\.\d+\.\d+/);
  });
});
