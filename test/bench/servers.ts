/**
 * Bench child process: `node servers.js webhook|baseline CERT KEY POLICY BODYFILE`. Starts one
 * TLS server on an ephemeral port and prints `port=<n>` on stdout. The baseline is a bare fastify
 * TLS server that parses the same JSON request and answers with a fixed body of the same size as
 * the webhook's answer, so the ratio isolates what sidelog adds.
 *
 * The webhook runs at the log level the Deployment ships (SIDELOG_LOG_LEVEL in the environment the
 * bench gives it, else the configuration's default), logging to stdout, a pipe the bench drains,
 * as a container runtime does.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [kind, certFile, keyFile, policyFile, responseFile] = process.argv.slice(2);

if (kind === 'webhook') {
  // Loaded here only, so the baseline process carries none of sidelog's code.
  const { loadConfig } = await import('../../webhook/config.js');
  const { startServer } = await import('../../webhook/main.js');
  const config = loadConfig({ port: 0, previewPort: 0, host: '127.0.0.1', tlsCert: certFile, tlsKey: keyFile, policy: policyFile, kubeVersion: '1.30' }, { SIDELOG_LOG_LEVEL: process.env.SIDELOG_LOG_LEVEL });
  const running = await startServer(config);
  process.stdout.write(`port=${running.port}\n`);
  process.once('SIGTERM', () => void running.close().then(() => process.exit(0)));
} else if (kind === 'baseline') {
  const fixed = readFileSync(responseFile!, 'utf8');
  const app = Fastify({ https: { cert: readFileSync(certFile!, 'utf8'), key: readFileSync(keyFile!, 'utf8'), minVersion: 'TLSv1.2' }, bodyLimit: 4 * 1024 * 1024, logger: false });
  app.post('/mutate', async (_req, reply) => reply.type('application/json; charset=utf-8').send(fixed));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  process.stdout.write(`port=${typeof address === 'object' && address ? address.port : 0}\n`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
} else {
  process.stderr.write('usage: servers.js webhook|baseline CERT KEY POLICY RESPONSE\n');
  process.exit(2);
}
