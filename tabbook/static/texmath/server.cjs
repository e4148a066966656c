// tabbook's math converter: TeX -> MathML with Temml, for a whole book in one Node process.
//
//   node server.cjs ENGINE.js
//
// Started once by tabbook/texmath.py and kept for the whole build. It prints one
// line, {"engine": "temml", "version": ...}, then answers each line of stdin, a
// JSON array of [tex, display] pairs, with one line: a JSON array holding, per
// pair, {"m": MathML} or {"e": why it cannot be typeset}. Nothing else is read or
// written, nothing is fetched.
"use strict";
const fs = require("fs");
const readline = require("readline");
const vm = require("vm");

const enginePath = process.argv[2];
// temml.min.js is the browser build: a script that defines the global `temml`.
vm.runInThisContext(fs.readFileSync(enginePath, "utf8"), { filename: enginePath });
const temml = globalThis.temml;

function convert(tex, display) {
  try {
    return { m: temml.renderToString(tex, { displayMode: display, throwOnError: true, annotate: false, wrap: "none", xml: false }) };
  } catch (error) {
    if (error && error.name === "ParseError") {
      // "<message> at position N: <context>": keep the message and the position.
      const text = String(error.message).trim().replace(/\u0332/g, "");
      const match = /^([\s\S]*?) (at position \d+|at end of input):?/.exec(text);
      return { e: match ? `${match[1]}, ${match[2]}` : text };
    }
    // Temml fails on some malformed input with a TypeError of its own.
    return { e: `malformed TeX (Temml: ${error && error.message ? error.message : error})` };
  }
}

process.stdout.write(JSON.stringify({ engine: "temml", version: temml.version }) + "\n");
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let answer;
  try {
    answer = JSON.parse(line).map(([tex, display]) => convert(String(tex), Boolean(display)));
  } catch (error) {
    answer = { fatal: `bad request: ${error.message}` };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
lines.on("close", () => process.exit(0));
