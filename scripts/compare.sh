#!/usr/bin/env bash
# Compares two strategies function by function: a word diff of each function that both
# crates' `crawl.rs` define (or of the ones named), with its doc comment.
#
#   scripts/compare.sh threads async                   # every function both define
#   scripts/compare.sh threads async worker next_fetch # these only
#   scripts/compare.sh callbacks uring
#
# A diff of the whole files also shows what only one model has (a thread pool, a ticker),
# and lines out of order; function by function, the same step lines up with itself.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
a="crates/$1/src/crawl.rs"
b="crates/$2/src/crawl.rs"
for file in "$a" "$b"; do
    [ -f "$file" ] || { echo "no $file (strategies: $(ls crates | tr '\n' ' '))" >&2; exit 2; }
done
shift 2

# The names of the functions FILE defines at the top level or in an impl, in order.
functions() {
    sed -n -E 's/^(    )?(pub(\([a-z]+\))? )?(async )?fn ([a-z_0-9]+).*/\5/p' "$1"
}

# Function NAME of FILE: its doc comment and attributes, then the body to the brace that
# closes it, at the indentation it opened at.
function_of() {
    awk -v name="$2" '
        !printing && /^ *(\/\/\/|#\[)/ { doc = doc $0 "\n"; next }
        !printing && $0 ~ "^ *(pub(\\([a-z]+\\))? )?(async )?fn " name "[(<]" {
            printing = 1
            match($0, /^ */)
            indent = substr($0, 1, RLENGTH)
            printf "%s", doc
        }
        !printing { doc = "" }
        printing { print }
        printing && $0 == indent "}" { exit }
    ' "$1"
}

if [ $# -eq 0 ]; then
    set -- $(comm -12 <(functions "$a" | sort -u) <(functions "$b" | sort -u))
fi
# In colour on a terminal; piped, with [-removed-]{+added+} markers.
mode=plain
[ -t 1 ] && mode=color
for name in "$@"; do
    echo "━━ fn $name: $a → $b ━━"
    # The whole function as context; the diff's four header lines dropped.
    diff=$(git --no-pager diff --no-index -U100000 --word-diff="$mode" \
        <(function_of "$a" "$name") <(function_of "$b" "$name") | sed '1,4d' || true)
    if [ -n "$diff" ]; then
        echo "$diff"
    else
        function_of "$a" "$name"
        echo "(the same in both)"
    fi
    echo
done
