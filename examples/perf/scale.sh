#!/usr/bin/env bash
# scale.sh: tlsgate with many tenants (docs/performance.md, "Tenants at
# scale"). Builds tlsgate, then runs examples/perf/scalebench, which starts
# gateways with N tenants each (own SNI name, self-signed certificate and
# guest section with the reference guest; embedded NATS, memory storage) and
# prints one table row per N.
#
#   examples/perf/scale.sh                     # N = 100, 1000
#   examples/perf/scale.sh -n 100,1000,10000   # about 5 minutes on 2 cores
#   examples/perf/scale.sh -layout file -n 10000
#
# Everything listens on loopback, on ports the kernel picks. Needs go.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tlsgate" ./cmd/tlsgate
go run ./examples/perf/scalebench -bin "$work/tlsgate" "$@"
