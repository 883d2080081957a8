#!/usr/bin/env bash
# What one more connection in flight costs a strategy in resident memory, taken as the
# benchmark's memory site takes it: a server whose root links to HIGH pages, each held 200 ms (DELAY_MS);
# a crawl at C = LOW and one at C = HIGH, each sampling its RSS when the most fetches are in
# flight; the difference in RSS over the difference in fetches in flight. Two runs of each.
#
#   scripts/rss-per-connection.sh async                  # C = 1000 against C = 10000
#   scripts/rss-per-connection.sh threads 500 2000
#   scripts/rss-per-connection.sh async 1000 10000 --threads 2 --runtime per-core
#   TLS=1 DELAY_MS=3000 scripts/rss-per-connection.sh callbacks 200 2000   # over https
#
# Needs an open-file limit above HIGH (it raises the soft limit to the hard one). With TLS=1
# the site is served over TLS (its CA handed to the crawler); hold the pages long enough
# (DELAY_MS, 200 by default) for every handshake to be done before the first response.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
strategy=$1
low=${2:-1000}
high=${3:-10000}
shift $(($# < 3 ? $# : 3))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
tls=()
crawl_tls=()
if [ -n "${TLS:-}" ]; then
    tls=(--tls --ca-out "$work/ca.pem")
    crawl_tls=(--ca-file "$work/ca.pem")
fi
. scripts/serve.sh
serve --pages $((high + 1)) --links "$high" --delay-ms "${DELAY_MS:-200}" --page-bytes 2048 \
    "${tls[@]}"

# Field NAME of the crawl's JSON report in FILE.
field() {
    sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p" "$1" | head -1
}

echo "$strategy${*:+ $*}${TLS:+ (https)}: RSS at the widest moment, C = $low against C = $high"
for run in 1 2; do
    for c in "$low" "$high"; do
        "$bin" crawl "$url" --strategy "$strategy" --concurrency "$c" "${crawl_tls[@]}" "$@" --json \
            > "$work/$c.json"
    done
    lo_rss=$(field "$work/$low.json" rss_kib_at_widest)
    hi_rss=$(field "$work/$high.json" rss_kib_at_widest)
    lo_in=$(field "$work/$low.json" sampled_in_flight)
    hi_in=$(field "$work/$high.json" sampled_in_flight)
    awk -v run="$run" -v lr="$lo_rss" -v hr="$hi_rss" -v li="$lo_in" -v hi="$hi_in" 'BEGIN {
        printf "run %d: %d KiB at %d in flight, %d KiB at %d: %.0f B per connection\n",
            run, lr, li, hr, hi, (hr - lr) * 1024 / (hi - li)
    }'
done
