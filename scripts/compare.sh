#!/usr/bin/env bash
# Compares two strategies step by step: a word diff of each function that both crates'
# `crawl.rs` define (or of the ones named), in the order of the first, with its doc comment;
# then, apart, the helpers only one of them has.
#
#   scripts/compare.sh threads async                   # every step both define, then helpers
#   scripts/compare.sh threads async worker next_fetch # these only
#   scripts/compare.sh callbacks uring
#
# Comment markers (//, ///) are left out, so the prose diffs as words. Tests are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
a="crates/$1/src/crawl.rs"
b="crates/$2/src/crawl.rs"
for file in "$a" "$b"; do
    [ -f "$file" ] || { echo "no $file (strategies: $(ls crates | tr '\n' ' '))" >&2; exit 2; }
done
shift 2

# The names of the functions FILE defines at the top level or in an impl, in order, up to its
# tests.
functions() {
    sed -n -E '/^#\[cfg\(test\)\]/q; s/^(    )?(pub(\([a-z]+\))? )?(async )?fn ([a-z_0-9]+).*/\5/p' "$1"
}

# Function NAME of FILE: its doc comment and attributes, then the body to the brace that
# closes it, at the indentation it opened at; comment markers left out.
function_of() {
    awk -v name="$2" '
        /^#\[cfg\(test\)\]/ { exit }
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
    ' "$1" | sed -E 's#^( *)//[/!]? ?#\1#'
}

# Whether FILE defines function NAME.
defines() {
    functions "$1" | grep -qx "$2"
}

if [ $# -eq 0 ]; then
    helpers=yes
    mapfile -t names < <(functions "$a" | awk '!seen[$0]++' | while read -r name; do
        if defines "$b" "$name"; then echo "$name"; fi
    done)
else
    helpers=no
    names=("$@")
fi
# In colour on a terminal; piped, with [-removed-]{+added+} markers.
mode=plain
[ -t 1 ] && mode=color

# Prints function NAME of FILE whole, under a heading.
show() {
    echo "━━ fn $2: only in $1 ━━"
    function_of "$1" "$2"
    echo
}

for name in "${names[@]}"; do
    if ! defines "$a" "$name"; then show "$b" "$name"; continue; fi
    if ! defines "$b" "$name"; then show "$a" "$name"; continue; fi
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

if [ "$helpers" = yes ]; then
    for side in "$a:$b" "$b:$a"; do
        this=${side%%:*}
        other=${side##*:}
        only=$(functions "$this" | awk '!seen[$0]++' | while read -r name; do
            if ! defines "$other" "$name"; then echo "$name"; fi
        done)
        [ -n "$only" ] || continue
        echo "══ helpers only in $this: $(echo $only) ══"
        echo
        for name in $only; do
            show "$this" "$name"
        done
    done
fi
