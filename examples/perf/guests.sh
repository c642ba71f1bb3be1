#!/usr/bin/env bash
# Guest languages side by side (docs/performance.md): a direct KV get and
# the same fetch through the WAT, AssemblyScript and Go session guests, then
# each guest's size, cold compile, instantiate time and host memory per live
# instance. One run of the wasmhost benchmarks, medians of COUNT rounds.
#
#   examples/perf/guests.sh            # COUNT=5
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'DirectKVGetSession$|FetchKV$|FetchASGuest$|FetchGoGuest$|FetchASGuestNearCache$|FetchGoGuestNearCache$|TrivialCall$' \
  -benchtime 5000x -count "$count" ./wasmhost/ | grep '^Benchmark' >>"$out"
go test -run '^$' -bench 'Instantiate' -benchtime 300x -count "$count" ./wasmhost/ | grep '^Benchmark' >>"$out"
go test -run '^$' -bench 'Compile' -benchtime 3x -count 3 ./wasmhost/ | grep '^Benchmark' >>"$out"
# name -> median of column (ns/op, or a custom metric)
python3 - "$out" <<'PY'
import re, sys, statistics
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    name = re.sub(r'-\d+$', '', f[0][len('Benchmark'):])
    vals = {f[i + 1]: float(f[i]) for i in range(2, len(f) - 1, 2)}
    rows.setdefault(name, []).append(vals)
def med(name, unit):
    v = [r[unit] for r in rows.get(name, []) if unit in r]
    return statistics.median(v) if v else float('nan')
print("| | direct KV get | WAT guest | AssemblyScript guest | Go guest |")
print("|---|---|---|---|---|")
print("| fetch through NATS (us) | %.1f | %.1f | %.1f | %.1f |" % tuple(med(n, 'ns/op') / 1e3 for n in ['DirectKVGetSession', 'FetchKV', 'FetchASGuest', 'FetchGoGuest']))
print("| fetch from the near cache (us) | | | %.2f | %.2f |" % tuple(med(n, 'ns/op') / 1e3 for n in ['FetchASGuestNearCache', 'FetchGoGuestNearCache']))
print("| module (bytes) | | %d | %d | %d |" % tuple(med('Compile/' + g, 'bytes') for g in ['wat', 'assemblyscript', 'go']))
print("| cold compile (ms) | | %.1f | %.1f | %.0f |" % tuple(med('Compile/' + g, 'ns/op') / 1e6 for g in ['wat', 'assemblyscript', 'go']))
print("| instantiate (ms) | | %.2f | %.2f | %.2f |" % tuple(med('Instantiate/' + g, 'ns/op') / 1e6 for g in ['wat', 'assemblyscript', 'go']))
print("| host memory per live instance (MiB) | | %.2f | %.2f | %.2f |" % tuple(med('Instantiate/' + g, 'MiB/instance') for g in ['wat', 'assemblyscript', 'go']))
print("| trivial call, an export that returns at once (us) | | %.2f | | |" % (med("TrivialCall", "ns/op") / 1e3))
PY
