# Sourced by the measuring scripts: `serve ARGS...` builds the crawler, starts
# `c10k serve ARGS...` in the background and waits for its address. It sets `bin` (the
# binary), `work` (a scratch directory, removed at exit with the server killed), `server`
# (its pid) and `url` (the site's root).
serve() {
    cargo build --release -q
    bin=target/release/c10k
    work=${work:-$(mktemp -d)}
    "$bin" serve "$@" > "$work/serve.out" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
    for _ in $(seq 50); do
        grep -q '^listening on ' "$work/serve.out" && break
        sleep 0.1
    done
    url=$(sed -n 's/^listening on //p' "$work/serve.out")
    [ -n "$url" ] || { cat "$work/serve.out" >&2; exit 1; }
}
