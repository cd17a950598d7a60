/**
 * Listening. The default host `::` listens on IPv6 and IPv4 at once (one dual-stack socket,
 * `ipv6Only: false`), so the webhook is reachable on IPv4-only, IPv6-only and dual-stack clusters
 * alike; where the node has no IPv6 at all it falls back to `0.0.0.0`. Any other host is
 * listened on as given.
 */
import type { FastifyInstance } from 'fastify';

export const DUAL_STACK_HOST = '::';

const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/** Listen on `host:port`; returns the port listened on (useful with port 0). */
export async function listen(app: FastifyInstance, port: number, host: string): Promise<number> {
  if (host === DUAL_STACK_HOST) {
    try {
      await app.listen({ port, host, ipv6Only: false });
    } catch (e) {
      if (!NO_IPV6.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      app.log.warn({ error: (e as Error).message }, 'IPv6 is unavailable here; listening on IPv4 only (0.0.0.0)');
      await app.listen({ port, host: '0.0.0.0' });
    }
  } else {
    await app.listen({ port, host });
  }
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}
