#!/bin/sh
# Installs npm's tiktoken (WASM) into build/tiktoken for bench/tiktoken/bench.js. Run from the repo root.
# node_modules stays under build/ and is never committed.
set -e
command -v npm >/dev/null 2>&1 || { echo "setup.sh: npm not found" >&2; exit 1; }
if [ -d build/tiktoken/node_modules/tiktoken ]; then exit 0; fi
mkdir -p build/tiktoken
npm install --silent --no-audit --no-fund --prefix build/tiktoken tiktoken
