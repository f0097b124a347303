#!/bin/sh
# Installs the Debian packages llmwb needs (when root), or prints the one command to run.
# Idempotent and quiet when everything is present. `deps.sh fuzz` adds what `make fuzz` needs (clang, libFuzzer).
PKGS="build-essential pkg-config libncurses-dev libopenblas-dev libyaml-dev libcjson-dev libpcre2-dev libcriterion-dev libpng-dev librsvg2-bin tmux libopenmpi-dev openmpi-bin"
[ "$1" = fuzz ] && PKGS="$PKGS clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "llmwb: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "llmwb: apt-get install failed for:$missing" >&2; exit 1; }
else
    echo "llmwb: missing packages:$missing" >&2
    echo "llmwb: run: sudo apt-get install -y$missing" >&2
    exit 1
fi
