#!/usr/bin/env node
// The kubectl plugin: on PATH, `kubectl sidelog preview|certs|...` runs this with the arguments
// after `sidelog`. kubectl hands a plugin its flags untouched, so `--kubeconfig`, `--context` and
// `-n` are read here, as `sidelog` reads them; `preview` without `-n` uses the context's namespace.
import { KUBECTL_PROGRAM, main, processIo } from '../dist/webhook/cli.js';

const code = await main(process.argv.slice(2), { ...processIo, program: KUBECTL_PROGRAM });
// Exit once everything written has been flushed: API clients may keep idle sockets open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
