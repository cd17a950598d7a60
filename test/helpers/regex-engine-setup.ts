/**
 * Jest setup (setupFilesAfterEnv): load the regex engine before each test file, as the CLI
 * commands and the preview process do, so the core can be called synchronously in tests. The
 * server loads it lazily, on the first pod that asks for a regex: test/http/regex-engine.test.ts
 * checks that path on a real `sidelog serve` process, whose engine starts unloaded.
 */
import { loadRegexEngine } from '../../webhook/core/regex.js';

await loadRegexEngine();
