// node engines.cjs ITEMS.json: every [tex, display] of ITEMS.json through Temml, KaTeX
// (MathML output) and MathJax 4 (TeX input, MathML serialization), one engine after
// the other in this one process. Prints one JSON object: per engine, the time to
// load it, a first (cold) and a second (warm) pass in ms, and its failures.
"use strict";
const fs = require("fs");
const items = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

const engines = {
  temml() {
    const temml = require("temml");
    return (tex, display) => temml.renderToString(tex, { displayMode: display, throwOnError: true, wrap: "none" });
  },
  katex() {
    const katex = require("katex");
    return (tex, display) => katex.renderToString(tex, { output: "mathml", displayMode: display, throwOnError: true, strict: "ignore" });
  },
  mathjax() {
    const { mathjax } = require("@mathjax/src/js/mathjax.js");
    const { TeX } = require("@mathjax/src/js/input/tex.js");
    const { liteAdaptor } = require("@mathjax/src/js/adaptors/liteAdaptor.js");
    const { RegisterHTMLHandler } = require("@mathjax/src/js/handlers/html.js");
    const { SerializedMmlVisitor } = require("@mathjax/src/js/core/MmlTree/SerializedMmlVisitor.js");
    const { STATE } = require("@mathjax/src/js/core/MathItem.js");
    const packages = { base: "Base", ams: "Ams", newcommand: "Newcommand", boldsymbol: "Boldsymbol", textmacros: "TextMacros", mathtools: "Mathtools" };
    for (const [dir, name] of Object.entries(packages)) require(`@mathjax/src/js/input/tex/${dir}/${name}Configuration.js`);
    RegisterHTMLHandler(liteAdaptor());
    // no "noundefined"/"noerrors": an unknown macro is an error, as in the other engines
    const tex = new TeX({ packages: Object.keys(packages), formatError: (jax, error) => { throw error; } });
    const doc = mathjax.document("", { InputJax: tex });
    const visitor = new SerializedMmlVisitor();
    return (source, display) => visitor.visitTree(doc.convert(source, { display, end: STATE.CONVERT }));
  },
};

const report = {};
for (const [name, load] of Object.entries(engines)) {
  const t0 = process.hrtime.bigint();
  const convert = load();
  const t1 = process.hrtime.bigint();
  const failures = [];
  for (const [tex, display] of items) {
    try { convert(tex, display); } catch (error) { failures.push([tex, display, String(error.message || error).trim().split("\n")[0]]); }
  }
  const t2 = process.hrtime.bigint();
  for (const [tex, display] of items) { try { convert(tex, display); } catch (error) { /* counted above */ } }
  const t3 = process.hrtime.bigint();
  report[name] = { load_ms: Number(t1 - t0) / 1e6, cold_ms: Number(t2 - t1) / 1e6, warm_ms: Number(t3 - t2) / 1e6, failures };
}
process.stdout.write(JSON.stringify(report) + "\n");
