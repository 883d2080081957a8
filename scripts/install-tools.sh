#!/usr/bin/env bash
# Optional tools the benchmarks use when they are present (Debian/Ubuntu, as root):
# - wrk: the sweep also measures the server's ceiling with `wrk -H 'Connection: close'`.
# Fonts are not needed: the plots are drawn with a font compiled into the binary.
set -euo pipefail
apt-get install -y wrk
