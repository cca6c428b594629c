// Reads a JSON array of Mermaid sources on stdin; prints a JSON array of
// {ok, type, error} in the same order. mermaid.parse() needs no browser, only a DOM for
// DOMPurify (label sanitising), which jsdom provides.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const { window } = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = window;
globalThis.document = window.document;

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const sources = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const source of sources) {
  try {
    const parsed = await mermaid.parse(source);
    results.push({ ok: true, type: parsed.diagramType, error: null });
  } catch (error) {
    const message = String(error?.message ?? error).split("\n").slice(0, 4).join(" ");
    results.push({ ok: false, type: null, error: message });
  }
}
process.stdout.write(JSON.stringify(results));
