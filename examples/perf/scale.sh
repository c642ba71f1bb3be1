#!/usr/bin/env bash
# scale.sh: how long tlsgate takes to become ready, and how much memory it
# holds, with N tenants, each with its own SNI name, self-signed
# certificate and the reference guest (builtin:sessioncache).
#
#   examples/perf/scale.sh 100 1000 10000
#
# Each N runs twice in one data dir: the first run also generates the
# certificates (one per tenant), the second starts with them on disk; the
# second run's figures are the ones to compare. Ports 127.0.0.1:18443 and
# :19090 must be free. Needs go, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tlsgate" ./cmd/tlsgate

config() { # N: a config with N guest tenants
  echo 'listeners: [{address: "127.0.0.1:18443"}]'
  echo 'admin: {address: "127.0.0.1:19090"}'
  echo 'nats: {storage: memory}'
  echo 'tenants:'
  for ((i = 0; i < $1; i++)); do
    printf '  - {name: t%d, server_names: [t%d.test], certificate: {self_signed: true}, upstream: builtin, guest: {module: "builtin:sessioncache"}}\n' "$i" "$i"
  done
}

ready() { # CONFIG DATADIR: seconds until /readyz answers 200, and RSS then
  local start end pid rss
  start=$(date +%s.%N)
  "$work/tlsgate" serve --config "$1" --data-dir "$2" >"$work/log" 2>&1 &
  pid=$!
  for ((i = 0; i < 6000; i++)); do # at most 10 minutes
    curl -sf -o /dev/null http://127.0.0.1:19090/readyz && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
    sleep 0.1
  done
  end=$(date +%s.%N)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
  python3 -c "print(f'{$end - $start:.1f} s, RSS {$rss // 1024} MiB')"
}

[ $# -gt 0 ] || set -- 100 1000
for n in "$@"; do
  config "$n" >"$work/t$n.yaml"
  mkdir -m 700 "$work/d$n"
  first=$(ready "$work/t$n.yaml" "$work/d$n")
  second=$(ready "$work/t$n.yaml" "$work/d$n")
  echo "$n guest tenants: first start (generating certificates) $first; second start $second"
done
