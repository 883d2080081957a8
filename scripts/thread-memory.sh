#!/usr/bin/env bash
# Where the threads crawler's memory goes, per thread: the RSS of its mappings by kind
# (thread stacks, the main heap, the other anonymous mappings: malloc's per-thread arenas)
# between two crawls, divided by the threads between them, in two states:
#
#   waiting    C = 1,000 against 10,000, every response held 3 s: each thread waits for
#              its first response
#   read pages C = 500 against 2,000, responses held 200 ms, looked at mid-crawl: each
#              thread has read and parsed pages
#
# and, given a C compiler, the mallocs each thread adds by size, in the spawning thread and
# in the thread itself (an allocator interposed with LD_PRELOAD counts them).
#
#   scripts/thread-memory.sh                       # target/release/c10k (cargo build --release)
#   scripts/thread-memory.sh path/to/c10k
#
# Linux only (/proc/PID/smaps); needs python3. Every crawl is against a local `c10k serve`
# and ends by itself or is killed after the look.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/c10k}
[ -x "$bin" ] || { echo "no $bin: run cargo build --release, or name the binary" >&2; exit 2; }
command -v python3 > /dev/null || { echo "python3 is needed" >&2; exit 2; }
ulimit -n 20000 2> /dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; rm -rf "$tmp"' EXIT

# serve DELAY_MS: starts a server of 10,001 pages (the root links to all others) and sets `url`
# to its URL. Not in a `$(…)` subshell, so that its pid reaches the trap that kills it.
serve() {
    "$bin" serve --pages 10001 --links 10000 --delay-ms "$1" --page-bytes 2048 > "$tmp/serve.$1" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do grep -q listening "$tmp/serve.$1" && break; sleep 0.1; done
    url=$(grep -o 'http://[0-9.:]*/' "$tmp/serve.$1")
}

# look URL C SECONDS [ENV]: crawls at C, and after SECONDS writes the crawl's smaps to
# $tmp/smaps.C (and, with ENV set to an LD_PRELOAD, its malloc counts to $tmp/mallocs.C).
look() {
    local url=$1 c=$2 at=$3 preload=${4:-}
    LD_PRELOAD=$preload "$bin" crawl "$url" --strategy threads --concurrency "$c" --json > /dev/null 2>&1 &
    local pid=$!
    sleep "$at"
    cp "/proc/$pid/smaps" "$tmp/smaps.$c"
    if [ -n "$preload" ]; then
        kill -USR1 "$pid"
        sleep 0.3
        mv "$tmp/mallocs.$pid" "$tmp/mallocs.$c"
    fi
    kill "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
}

# compare LO HI: RSS by kind of mapping, per thread between the crawls at LO and HI.
compare() {
    python3 - "$tmp/smaps.$1" "$tmp/smaps.$2" "$1" "$2" << 'PY'
import collections, sys

def kinds(path):
    rss, stacks = collections.Counter(), collections.Counter()
    kind = size = None
    for line in open(path):
        parts = line.split()
        if parts and "-" in parts[0] and ":" not in parts[0]:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            size, name = (hi - lo) // 1024, " ".join(parts[5:])
            # A thread's stack is its own mapping of the size asked for (256 KiB by
            # default), with or without its guard page.
            kind = ("thread stacks" if size in (256, 260) and not name else
                    "main heap" if name == "[heap]" else
                    "other anonymous (arenas)" if not name else "files and the rest")
        elif line.startswith("Rss:"):
            rss[kind] += int(parts[1])
            if kind == "thread stacks":
                stacks[int(parts[1])] += 1
    return rss, stacks

(lo, lo_stacks), (hi, hi_stacks) = kinds(sys.argv[1]), kinds(sys.argv[2])
threads = int(sys.argv[4]) - int(sys.argv[3])
total = 0
for kind in ("thread stacks", "main heap", "other anonymous (arenas)", "files and the rest"):
    per = (hi[kind] - lo[kind]) * 1024 / threads
    total += per
    print(f"  {kind:28} {per:8.0f} B per thread")
print(f"  {'in all':28} {total:8.0f} B per thread")
print("  touched stack per thread (KiB: threads):", dict(sorted(hi_stacks.items())))
PY
}

echo "waiting for the first response (C = 1,000 against 10,000, responses held 3 s):"
serve 3000
look "$url" 1000 2.5
look "$url" 10000 2.5
compare 1000 10000

echo "after reading pages (C = 500 against 2,000, responses held 200 ms, looked at mid-crawl):"
serve 200
look "$url" 500 1.2
look "$url" 2000 0.9
compare 500 2000

cc=$(command -v cc || command -v gcc || true)
if [ -z "$cc" ]; then
    echo "mallocs per thread: skipped (no C compiler to build the counting allocator)"
    exit 0
fi
cat > "$tmp/count.c" << 'C'
/* Counts malloc-family calls by size, in the main thread and in the others; SIGUSR1 writes
   the counts to $TMPDIR/mallocs.PID. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
#define SIZES 4097
static long counts[2][SIZES];
static void count(size_t size) {
    int main_thread = syscall(SYS_gettid) == getpid();
    __atomic_add_fetch(&counts[main_thread][size < SIZES ? size : SIZES - 1], 1, __ATOMIC_RELAXED);
}
void *malloc(size_t n) { count(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) { count(n); *p = __libc_memalign(a, n); return *p ? 0 : 12; }
static void dump(int signal) {
    (void)signal;
    char path[4096];
    snprintf(path, sizeof path, "%s/mallocs.%d", getenv("TMPDIR"), getpid());
    FILE *out = fopen(path, "w");
    if (!out) return;
    for (int m = 0; m < 2; m++)
        for (int size = 0; size < SIZES; size++)
            if (counts[m][size]) fprintf(out, "%s %d %ld\n", m ? "spawning" : "own", size, counts[m][size]);
    fclose(out);
}
__attribute__((constructor)) static void start(void) { signal(SIGUSR1, dump); }
C
"$cc" -O2 -shared -fPIC -o "$tmp/count.so" "$tmp/count.c"
export TMPDIR=$tmp
echo "mallocs per thread (C = 1,000 against 10,000, waiting; the spawning thread, or the thread itself):"
serve 3000
look "$url" 1000 2.5 "$tmp/count.so"
look "$url" 10000 2.5 "$tmp/count.so"
python3 - "$tmp/mallocs.1000" "$tmp/mallocs.10000" << 'PY'
import sys
def load(path):
    return {(who, int(size)): int(n) for who, size, n in (line.split() for line in open(path))}
lo, hi = load(sys.argv[1]), load(sys.argv[2])
for key in sorted(set(lo) | set(hi)):
    per = (hi.get(key, 0) - lo.get(key, 0)) / 9000
    if abs(per) >= 0.05:
        print(f"  {key[0]:8} {key[1]:5} B x {per:.2f}")
PY
