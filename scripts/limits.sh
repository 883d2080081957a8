#!/usr/bin/env bash
# Shows the limits that decide how far a C10K sweep can go on this machine, and how to raise
# them for larger sweeps. `c10k` raises its own soft open-file limit to the hard limit at start;
# everything else here needs root and is left to you.
set -euo pipefail
show() { printf '%-34s %s\n' "$1" "$2"; }
show "open files (soft / hard)" "$(ulimit -Sn) / $(ulimit -Hn)"
show "fs.nr_open (max hard limit)" "$(cat /proc/sys/fs/nr_open)"
show "kernel.threads-max" "$(cat /proc/sys/kernel/threads-max)"
show "kernel.pid_max" "$(cat /proc/sys/kernel/pid_max)"
show "vm.max_map_count" "$(cat /proc/sys/vm/max_map_count)"
show "net.core.somaxconn (accept queue)" "$(cat /proc/sys/net/core/somaxconn)"
show "net.ipv4.ip_local_port_range" "$(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range)"
show "net.ipv4.tcp_tw_reuse" "$(cat /proc/sys/net/ipv4/tcp_tw_reuse)"
cat <<'TXT'

Each connection costs one descriptor in the crawler and one in the server, which run as two
processes, so C is bounded by the open-file hard limit of each. To go beyond it (as root):
  ulimit -Hn 1048576 && ulimit -Sn 1048576     # in the shell that runs cargo bench
  sysctl -w net.core.somaxconn=65535           # let the server queue more connects
  sysctl -w kernel.pid_max=4194304             # threads count against PIDs
TXT
