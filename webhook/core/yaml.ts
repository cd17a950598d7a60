/**
 * YAML parsing for untrusted text. The `yaml` library's own duplicate-key check is quadratic in
 * the number of keys of a mapping (a 50,000-key map took 15 s); this one is linear. Aliases are
 * capped (no billion laughs). Errors keep their line.
 */
import { type Document, isMap, isScalar, parseAllDocuments, visit } from 'yaml';

export class YamlError extends Error {
  readonly line: number | undefined;
  /** The text nests deeper than the parser's stack reaches: too deep, not malformed. */
  readonly tooDeep: boolean;
  constructor(message: string, line?: number, tooDeep = false) {
    super(message);
    this.name = 'YamlError';
    this.line = line;
    this.tooDeep = tooDeep;
  }
}

/** The `yaml` library reports a stack overflow of its own recursion as a document error. */
const isStackOverflow = (e: unknown, message = (e as Error | undefined)?.message ?? ''): boolean => e instanceof RangeError || message.includes('Maximum call stack size exceeded');

function checkDuplicates(doc: Document.Parsed): void {
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return;
      const seen = new Set<string>();
      for (const item of map.items) {
        const key = isScalar(item.key) ? String(item.key.value) : JSON.stringify(item.key);
        if (seen.has(key)) {
          const range = isScalar(item.key) ? item.key.range : undefined;
          const line = range ? lineOf(doc, range[0]) : undefined;
          throw new YamlError(`duplicate key "${key.slice(0, 60)}"`, line);
        }
        seen.add(key);
      }
    },
  });
}

const sources = new WeakMap<Document.Parsed, string>();
function lineOf(doc: Document.Parsed, offset: number): number | undefined {
  const text = sources.get(doc);
  if (text === undefined) return undefined;
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Every document in `text` as plain JS values (null for an empty document). Throws YamlError. */
export function parseYamlDocuments(text: string, maxAliasCount = 0): unknown[] {
  const docs = parseAllDocuments(text, { uniqueKeys: false, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [];
  const out: unknown[] = [];
  for (const doc of list) {
    sources.set(doc, text);
    const err = doc.errors[0];
    if (err) throw new YamlError(err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), err.linePos?.[0]?.line, isStackOverflow(undefined, err.message));
    try {
      checkDuplicates(doc);
      out.push(doc.toJS({ maxAliasCount }));
    } catch (e) {
      if (e instanceof YamlError) throw e;
      throw new YamlError((e as Error).message.split('\n')[0]!, undefined, isStackOverflow(e));
    }
  }
  return out;
}

/** One YAML or JSON document (an empty text is null). Throws YamlError. */
export function parseYamlDocument(text: string, maxAliasCount = 0): unknown {
  const docs = parseYamlDocuments(text, maxAliasCount);
  if (docs.length > 1) throw new YamlError('holds more than one document');
  return docs[0] ?? null;
}
