/** Fluentd agent sidecar renderer: being written (see issue 2); mutate refuses Fluentd until then. */
import type { AgentRender, AgentRenderInput } from '../types.js';

export function renderFluentd(_input: AgentRenderInput): AgentRender {
  throw new Error('the Fluentd renderer is not written yet');
}
