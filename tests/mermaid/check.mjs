// Parses each file named on the command line with Mermaid's own parser (no browser: jsdom
// stands in for the DOM Mermaid's sanitiser wants). Prints one line per file; exits 1 when
// any file does not parse.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');

let bad = 0;
for (const f of process.argv.slice(2)) {
  try {
    const r = await mermaid.parse(readFileSync(f, 'utf8'));
    console.log(`ok ${r.diagramType} ${f}`);
  } catch (e) {
    bad++;
    console.log(`error ${f}: ${String(e).split('\n').slice(0, 4).join(' | ')}`);
  }
}
process.exit(bad ? 1 : 0);
