/**
 * The renderers' side of the sidecar model: what the injection hands a renderer and what it gives
 * back. The model itself lives with the pure core (webhook/core/sidecar-model.ts), below both the
 * renderers and the injection that calls them.
 */
export * from '../webhook/core/sidecar-model.js';
