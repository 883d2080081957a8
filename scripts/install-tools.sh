#!/usr/bin/env bash
# Optional tools the benchmarks use when they are present (Debian/Ubuntu, as root):
# - wrk: the sweep also measures the server's ceiling with `wrk -H 'Connection: close'`;
# - fonts-dejavu-core: the font the plots are drawn with (usually installed already).
set -euo pipefail
apt-get install -y wrk fonts-dejavu-core
