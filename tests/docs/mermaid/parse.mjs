// Reads a JSON array of Mermaid sources on stdin; prints a JSON array of
// {ok, type, error} in the same order. Uses mermaid.parse(), which needs no browser.
import { readFileSync } from "node:fs";

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

const sources = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const source of sources) {
  try {
    const parsed = await mermaid.parse(source);
    results.push({ ok: true, type: parsed.diagramType, error: null });
  } catch (error) {
    results.push({ ok: false, type: null, error: String(error?.message ?? error).split("\n").slice(0, 4).join(" ") });
  }
}
process.stdout.write(JSON.stringify(results));
