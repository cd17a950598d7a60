#!/usr/bin/env node
// The `sidelog` command: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
import { main } from '../dist/webhook/cli.js';

process.exitCode = await main(process.argv.slice(2));
