#!/bin/sh
# Layering rules (docs/architecture.md): src/ never includes curses; ui/ includes only the engine's public headers.
fail=0
if grep -nE '#\s*include\s*[<"](n?curses|ncursesw/)' src/*.c src/*.h 2>/dev/null; then
    echo "layering: src/ must not include curses" >&2; fail=1
fi
for f in ui/*.c ui/*.h; do
    [ -f "$f" ] || continue
    grep -hoE '#\s*include\s*"[^"]+"' "$f" | sed 's/.*"\(.*\)"/\1/' | while read -r h; do
        case "$h" in
            engine.h|snapshot.h) ;;
            *) [ -f "ui/$h" ] || { echo "layering: $f includes $h (ui/ may include only engine.h, snapshot.h and ui/ headers)" >&2; echo x; } ;;
        esac
    done
done | grep -q x && fail=1
if grep -nE '#\s*include\s*<cblas\.h>' src/*.c | grep -v '^src/matmul\.c:'; then
    echo "layering: only src/matmul.c includes cblas.h" >&2; fail=1
fi
if grep -nE '#\s*include\s*<yaml\.h>' src/*.c | grep -v '^src/config\.c:'; then
    echo "layering: only src/config.c includes yaml.h" >&2; fail=1
fi
if grep -nE '#\s*include\s*<mpi\.h>' src/*.c src/*.h | grep -v '^src/dist\.c:'; then
    echo "layering: only src/dist.c includes mpi.h" >&2; fail=1
fi
if grep -nE '\bexit\s*\(' src/*.c | grep -v '^src/cli\.c:'; then
    echo "layering: src/ never calls exit()" >&2; fail=1
fi
[ $fail = 0 ] && echo "layering: ok"
exit $fail
