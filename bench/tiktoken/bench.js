// bench.js — tiktoken's single-thread encode speed (gpt2 / r50k_base) on a file, best of 5 runs.
// Usage: node bench/tiktoken/bench.js [file]   (after bench/tiktoken/setup.sh; run from the repo root)
// Prints: "tiktoken encode gpt2 <file>: <MB/s> MB/s (<n> tokens, best of 5, 1 thread)"
"use strict";
const fs = require("fs");
const path = require("path");
const { get_encoding } = require(path.resolve("build/tiktoken/node_modules/tiktoken"));

const file = process.argv[2] || "corpora/austen_prideprejudice.txt";
const bytes = fs.readFileSync(file);
const text = bytes.toString("utf8");
const enc = get_encoding("gpt2");
let best = Infinity, n = 0;
enc.encode_ordinary(text); // warm-up (WASM compile, caches)
for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    n = enc.encode_ordinary(text).length;
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < best) best = dt;
}
enc.free();
console.log(`tiktoken encode gpt2 ${path.basename(file)}: ${(bytes.length / best / 1e6).toFixed(1)} MB/s (${n} tokens, best of 5, 1 thread)`);
