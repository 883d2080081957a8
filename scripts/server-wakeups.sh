#!/usr/bin/env bash
# How often each model lets the test server fall asleep, keeping connections on one core: the
# server pinned to one CPU, each strategy's crawl (one loop, C = 1000 by default) pinned to
# another, the same site as the sweep's one-core step (100 pages per connection). For each
# crawl: responses/s, and the server's voluntary context switches (each a wait in epoll that
# found nothing to do, so that the next request had to wake it) per 1,000 responses.
#
#   scripts/server-wakeups.sh                     # every strategy, C = 1000
#   scripts/server-wakeups.sh 1000 callbacks async
#
# On loopback the wake-up is paid in the sender's `send`: the kernel runs the server's side of
# the connection there and, finding the server asleep, interrupts its CPU. A loop that sends
# its requests after it has handled every event of a wake-up wakes the server once per burst;
# one whose tasks each send as they finish a page wakes it once per request or so. Needs two
# CPUs and an open-file limit above C (it raises the soft limit to the hard one).
set -euo pipefail
cd "$(dirname "$0")/.."

concurrency=${1:-1000}
shift $(($# > 0 ? 1 : 0))
strategies=("$@")
[ ${#strategies[@]} -gt 0 ] || strategies=(threads callbacks generators async uring)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pages=$((concurrency * 100))
. scripts/serve.sh
serve --pages "$pages" --links 50 --page-bytes 2048 --cpus 1

# The server's voluntary context switches so far, over all its threads.
switches() {
    cat /proc/"$server"/task/*/status | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n }'
}

echo "keep-alive, C = $concurrency, $pages pages; server on CPU 1, crawler on CPU 0"
for strategy in "${strategies[@]}"; do
    before=$(switches)
    "$bin" crawl "$url" --strategy "$strategy" --concurrency "$concurrency" \
        --connections keep-alive --per-host "$concurrency" --cpus 0 --json > "$work/crawl.json"
    after=$(switches)
    rate=$(sed -n 's/.*"pages_per_s": *\([0-9]*\).*/\1/p' "$work/crawl.json" | head -1)
    echo "$strategy: $rate responses/s; the server slept $(((after - before) * 1000 / pages)) times per 1,000 responses"
done
