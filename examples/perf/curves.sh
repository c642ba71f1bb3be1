#!/usr/bin/env bash
# curves.sh: what each key exchange costs the server per full handshake
# (docs/performance.md, "Key exchange"). One tlsgate with a tenant per
# curve_preferences choice (ECDSA P-256 and RSA-2048 certificates, no
# guest, so only the handshake is measured), then tlsgate bench --mode full
# against each in turn, REPS rounds interleaved.
#
#   examples/perf/curves.sh            # REPS=3 DUR=4s
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-3}
DUR=${DUR:-4s}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tlsgate" ./cmd/tlsgate
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  echo "nats: {storage: memory}"
  echo "tenants:"
  for kt in ecdsa rsa; do
    echo "  - {name: default-$kt, server_names: [default.$kt.test], certificate: {self_signed: true, key_type: $kt}, upstream: builtin}"
    echo "  - {name: x25519-$kt, server_names: [x25519.$kt.test], certificate: {self_signed: true, key_type: $kt}, upstream: builtin, curve_preferences: [X25519]}"
    echo "  - {name: p256-$kt, server_names: [p256.$kt.test], certificate: {self_signed: true, key_type: $kt}, upstream: builtin, curve_preferences: [P256]}"
  done
} >"$work/curves.yaml"
"$work/tlsgate" serve --config "$work/curves.yaml" --data-dir "$work/data" --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" >"$work/log" 2>&1 &
pid=$!
for ((i = 0; i < 600; i++)); do curl -sf -o /dev/null "http://127.0.0.1:$admin/readyz" && break; sleep 0.1; done
# Rounds interleaved: every configuration once per round.
for ((r = 0; r < REPS; r++)); do
  for tls in 1.3 1.2; do
    for kt in ecdsa rsa; do
      for c in default x25519 p256; do
        for mode in full resume; do
          [ "$tls" = 1.2 ] && [ "$mode" = resume ] && continue # TLS 1.2 resumption makes no key exchange
          "$work/tlsgate" bench --addr "127.0.0.1:$port" --sni "$c.$kt.test" --tls "$tls" --mode "$mode" \
            --duration "$DUR" --server-pid "$pid" --json >>"$work/$c-$kt-$tls-$mode.json"
        done
      done
    done
  done
done
python3 - "$work" "$REPS" <<'PY'
import json, sys, statistics
work, reps = sys.argv[1], sys.argv[2]
names = {"default": "default (X25519MLKEM768 on TLS 1.3, X25519 on 1.2)", "x25519": "[X25519]", "p256": "[P256]"}
print(f"| key exchange (tenant's curve_preferences) | TLS | cert | full: server CPU (us) | resumed: server CPU (us) | resumed / full |")
print("|---|---|---|---|---|---|")
def med(c, kt, tls, mode):
    try:
        rows = [json.loads(l) for l in open(f"{work}/{c}-{kt}-{tls}-{mode}.json") if l.strip()]
    except FileNotFoundError:
        return None
    return statistics.median(r["server_cpu"]["per_handshake_us"] for r in rows)
for tls in ("1.3", "1.2"):
    for kt in ("ecdsa", "rsa"):
        for c in ("default", "x25519", "p256"):
            full, res = med(c, kt, tls, "full"), med(c, kt, tls, "resume")
            ratio = f"{res / full:.2f}" if res else ""
            rs = f"{res:.0f}" if res else "(no key exchange)"
            print(f"| {names[c]} | {tls} | {'ECDSA P-256' if kt == 'ecdsa' else 'RSA-2048'} | {full:.0f} | {rs} | {ratio} |")
print(f"\nmedians of {reps} interleaved rounds")
PY
