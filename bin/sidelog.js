#!/usr/bin/env node
// The `sidelog` command: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
import { main } from '../dist/webhook/cli.js';

const code = await main(process.argv.slice(2));
// Exit once everything written has been flushed: API clients may keep idle sockets open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
