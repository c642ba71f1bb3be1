#!/usr/bin/env bash
# Reproduces every number in docs/performance.md in one run.
#
#   examples/perf/run.sh [OUTDIR]        (from the repository root)
#
# OUTDIR defaults to _build/perf/<UTC timestamp>. It receives the binaries,
# one JSON file per measurement (runs/), CPU profiles and their `pprof -top`
# text (profiles/), each server's /metrics at the end (metrics/), the
# environment (env.txt) and the tables (summary.md, made by summarize.py).
#
# Knobs (environment): REPS rounds of every configuration (default 5),
# DUR seconds per measurement (default 2), CONC bench workers (default 4),
# STIME_PROCS parallel `openssl s_time` clients (default 2), FLEET_SESSIONS
# per cross-gateway case (default 1000). With the defaults the whole script
# takes about 17 minutes on 2 cores.
#
# What runs, all on 127.0.0.1 (ports 19401-19456):
#   guest     tlsgate, reference guest, embedded NATS      guest-embedded.yaml
#   floor     tlsgate, no guest: stateless tickets         floor.yaml
#   remote    tlsgate, reference guest, NATS over TCP      guest-remote.yaml
#             (a standalone nats-server, built from the module cache)
#   remote-b  a second such gateway, same NATS and sealing keys: the fleet
#             of the cross-gateway runs                   guest-remote-b.yaml
#   nginx     Debian nginx, shared session cache, no tickets   nginx.conf
#   nginxlua  Debian nginx + libnginx-mod-http-lua: ssl_session_fetch/
#             store_by_lua over a lua_shared_dict          nginx-lua.conf
# Both nginx run as one process. Rounds interleave the configurations, so
# background load from other processes spreads over all of them rather
# than landing on one. After the rounds: cross-gateway resumption, CPU
# profiles, and the Wasm host's benchmarks (go test -bench).
set -euo pipefail

REPS=${REPS:-5}
DUR=${DUR:-2}
CONC=${CONC:-4}
STIME_PROCS=${STIME_PROCS:-2}
FLEET_SESSIONS=${FLEET_SESSIONS:-1000}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
OUT=${1:-_build/perf/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$OUT"/{bin,runs,fleet,profiles,metrics,logs,data,nginx/tmp,gotest}

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- preflight: tools and free ports ------------------------------------------------
for tool in go make nginx openssl python3 curl awk wat2wasm; do
	command -v "$tool" >/dev/null || { log "missing: $tool (apt-get install -y nginx libnginx-mod-http-lua wabt)"; exit 1; }
done
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || {
	log "missing: nginx's Lua module (apt-get install -y libnginx-mod-http-lua)"
	exit 1
}
for port in 19401 19402 19403 19404 19405 19406 19422 19451 19452 19453 19456; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		log "port $port is in use: stop what listens there first"
		exit 1
	fi
done

# --- build -------------------------------------------------------------------
log "building tlsgate (make build, patched crypto/tls) and nats-server"
make -s build BIN="$OUT/bin/tlsgate" OVERLAY_DIR="$OUT/overlay" >"$OUT/logs/build.log" 2>&1
go build -o "$OUT/bin/nats-server" github.com/nats-io/nats-server/v2 >>"$OUT/logs/build.log" 2>&1
TG=$OUT/bin/tlsgate

# --- environment -----------------------------------------------------------------
{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- gateway wasmhost guests cmd internal || echo ' (+ uncommitted changes)')"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "cores: $(nproc)"
	echo "kernel: $(uname -r)"
	echo "go: $(go version)"
	"$TG" version | sed 's/^/tlsgate version: /'
	echo "nats-server: $("$OUT/bin/nats-server" --version)"
	echo "nginx: $(nginx -v 2>&1)"
	echo "openssl: $(openssl version)"
	echo "nginx lua module: $(dpkg-query -W -f='${Version}' libnginx-mod-http-lua 2>/dev/null || echo unknown)"
	echo "knobs: REPS=$REPS DUR=${DUR}s CONC=$CONC STIME_PROCS=$STIME_PROCS FLEET_SESSIONS=$FLEET_SESSIONS"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

# --- servers -------------------------------------------------------------------
NATS_PORT=19422
"$OUT/bin/nats-server" -js -sd "$OUT/data/nats" -a 127.0.0.1 -p $NATS_PORT >"$OUT/logs/nats-server.log" 2>&1 &
pids+=($!)

declare -A gw_pid gw_addr gw_admin
gw_addr=([guest]=127.0.0.1:19401 [floor]=127.0.0.1:19402 [remote]=127.0.0.1:19403 [remote-b]=127.0.0.1:19406
	[nginx]=127.0.0.1:19404 [nginxlua]=127.0.0.1:19405)
gw_admin=([guest]=127.0.0.1:19451 [floor]=127.0.0.1:19452 [remote]=127.0.0.1:19453 [remote-b]=127.0.0.1:19456)
declare -A gw_config=([guest]=guest-embedded.yaml [floor]=floor.yaml [remote]=guest-remote.yaml [remote-b]=guest-remote-b.yaml)
start_gw() { # server [env...]
	local s=$1
	shift
	env "$@" "$TG" serve --config "$here/${gw_config[$s]}" --data-dir "$OUT/data/$s" --log-level warn \
		>"$OUT/logs/$s.log" 2>&1 &
	gw_pid[$s]=$!
	pids+=($!)
}
for s in guest floor remote; do start_gw "$s"; done

# Both nginx with their own RSA-2048 and ECDSA P-256 certificates (OpenSSL
# keys for OpenSSL's server), one process each.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=rsa.perf.test -days 2 \
	-keyout "$OUT/nginx/rsa.key" -out "$OUT/nginx/rsa.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=ecdsa.perf.test -days 2 \
	-keyout "$OUT/nginx/ecdsa.key" -out "$OUT/nginx/ecdsa.crt" 2>/dev/null
cp "$here/nginx.conf" "$here/nginx-lua.conf" "$OUT/nginx/"
for conf in nginx.conf nginx-lua.conf; do # they parse, modules and certificates included
	nginx -t -q -p "$OUT/nginx/" -c "$OUT/nginx/$conf" 2>>"$OUT/logs/nginx-test.log" || {
		log "nginx refuses $conf: see $OUT/logs/nginx-test.log"
		exit 1
	}
done
nginx -p "$OUT/nginx/" -c "$OUT/nginx/nginx.conf" 2>"$OUT/logs/nginx.log" &
gw_pid[nginx]=$!
pids+=($!)
nginx -p "$OUT/nginx/" -c "$OUT/nginx/nginx-lua.conf" 2>"$OUT/logs/nginx-lua.log" &
gw_pid[nginxlua]=$!
pids+=($!)

wait_ready() { # admin address: ready, and connected to NATS
	local i
	for i in $(seq 1 100); do
		if curl -sf "http://$1/readyz" | grep -q '^nats: connected'; then return 0; fi
		sleep 0.2
	done
	log "not ready (or not connected to NATS): $1"
	return 1
}
for s in guest floor remote; do wait_ready "${gw_admin[$s]}"; done
# The second fleet gateway opens the first one's sessions: same sealing keys.
start_gw remote-b TLSGATE_SEALING__KEYS_FILE="$OUT/data/remote/sealing-keys.yaml"
wait_ready "${gw_admin[remote-b]}"
for s in nginx nginxlua; do
	up=
	for i in $(seq 1 50); do
		if openssl s_client -connect "${gw_addr[$s]}" </dev/null >/dev/null 2>&1; then up=1; break; fi
		kill -0 "${gw_pid[$s]}" 2>/dev/null || break
		sleep 0.2
	done
	[ -n "$up" ] || { log "$s did not come up: see $OUT/logs/"; exit 1; }
done
log "servers up: $(for s in "${!gw_pid[@]}"; do printf '%s=%s ' "$s" "${gw_pid[$s]}"; done)"
echo "nginx processes measured: nginx ${gw_pid[nginx]}, nginx + Lua ${gw_pid[nginxlua]} (one process each)" >>"$OUT/env.txt"

# --- measurement helpers -------------------------------------------------------------
sni_of() { echo "$1.perf.test"; }

# counters: a gateway's handshakes, guest KV puts, successful stores and
# their bytes so far, on one line (before and after a run: its writes per
# handshake and bytes per stored session).
counters() {
	curl -sf "http://${gw_admin[$1]}/metrics" | awk '
		/^tlsgate_handshakes_total/ && !/failed/ {h += $2}
		/^tlsgate_kv_operation_duration_seconds_count/ && (/op="put"/ || /op="create"/) {p += $2}
		/^tlsgate_session_stores_total/ && /result="ok"/ {s += $2}
		/^tlsgate_session_stored_bytes_total/ {b += $2}
		END {printf "%d %d %d %d\n", h, p, s, b}'
}

bench() { # server tls cert mode outfile [extra bench flags]
	local s=$1 v=$2 c=$3 m=$4 f=$5
	shift 5
	[ -n "${gw_admin[$s]:-}" ] && counters "$s" >"$f.counters"
	"$TG" bench --addr "${gw_addr[$s]}" --sni "$(sni_of "$c")" --tls "$v" --mode "$m" \
		--concurrency "$CONC" --duration "${DUR}s" --server-pid "${gw_pid[$s]}" --json "$@" >"$f"
	if [ -n "${gw_admin[$s]:-}" ]; then
		# the queue is asynchronous: let the run's last stores land
		sleep 0.3
		counters "$s" >>"$f.counters"
	fi
}

cpu_ticks() { # pid... -> utime+stime of all, in clock ticks (1/100 s)
	local p t=0
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo $t
}

# stime server mode tls-flavour outfile pid...
#   mode: new | reuse; flavour: sessionid (client sends no ticket extension,
#   through OPENSSL_CONF) | ticket
stime() {
	local s=$1 m=$2 flavour=$3 f=$4
	shift 4
	local addr cnf=/dev/null i t0 t1 c0 c1 n=0 r=0 tmp
	addr=${gw_addr[$s]}
	[ "$flavour" = sessionid ] && cnf=$here/openssl-no-ticket.cnf
	tmp=$(mktemp -d)
	c0=$(cpu_ticks "$@")
	t0=$(date +%s.%N)
	local clients=()
	for i in $(seq 1 "$STIME_PROCS"); do
		OPENSSL_CONF=$cnf timeout $((DUR + 10)) openssl s_time -connect "$addr" "-$m" -tls1_2 \
			-cipher ECDHE-RSA-AES128-GCM-SHA256 -time "$DUR" >"$tmp/$i" 2>&1 &
		clients+=($!)
	done
	wait "${clients[@]}" || true
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$@")
	for i in $(seq 1 "$STIME_PROCS"); do
		n=$((n + $(awk '/connections in .* real seconds/ {n = $1} END {print n + 0}' "$tmp/$i")))
		r=$((r + $(awk '/Now timing/ {on = 1; next} on {print}' "$tmp/$i" | tr -cd 'r' | wc -c)))
	done
	[ "$m" = new ] && r=0
	[ "$r" -gt "$n" ] && r=$n # s_time prints a mark for a last connection it does not count
	rm -rf "$tmp"
	python3 -c 'import json,sys; s,m,fl,n,r,t0,t1,c=sys.argv[1:]; n=int(n); r=int(r); el=float(t1)-float(t0); cpu=int(c)/100
print(json.dumps({"server":s,"mode":m,"flavour":fl,"handshakes":n,"resumed":r,"elapsed_seconds":el,
 "handshakes_per_second":n/el if el else 0,"resumed_percent":100*r/n if n else 0,
 "server_cpu":{"seconds":cpu,"per_handshake_us":1e6*cpu/n if n else 0}}))' \
		"$s" "$m" "$flavour" "$n" "$r" "$t0" "$t1" "$((c1 - c0))" >"$f"
}

stime_cases() { # one line per case: server mode flavour
	cat <<-EOF
		guest new sessionid
		guest reuse sessionid
		guest reuse ticket
		floor new ticket
		floor reuse ticket
		nginx new sessionid
		nginx reuse sessionid
		nginxlua new sessionid
		nginxlua reuse sessionid
	EOF
}

# --- warm-up (not recorded): guest instances, NATS buckets, page cache -----------
# (remote-b too: a gateway's first handshakes for a tenant wait for its
# guest's first instance, and would fall to full handshakes in the
# cross-gateway runs' first batch)
log "warm-up"
for s in guest floor remote remote-b; do
	for c in rsa ecdsa; do
		for v in 1.2 1.3; do
			"$TG" bench --addr "${gw_addr[$s]}" --sni "$(sni_of "$c")" --tls $v --mode resume \
				--concurrency "$CONC" --duration 500ms >/dev/null
		done
	done
done

# --- the rounds ----------------------------------------------------------------------
for rep in $(seq 1 "$REPS"); do
	log "round $rep of $REPS (load average $(cut -d' ' -f1 /proc/loadavg))"
	for s in guest floor remote; do
		for v in 1.2 1.3; do
			for c in rsa ecdsa; do
				# first: full handshakes that accept a session (TLS 1.3: a
				# ticket issued, and stored, each time; TLS 1.2's full runs
				# store a Session ID already)
				for m in full first resume; do
					[ "$m" = first ] && [ "$v" = 1.2 ] && continue
					bench "$s" "$v" "$c" "$m" "$OUT/runs/bench-$s-$v-$c-$m-$rep.json"
				done
			done
		done
	done
	# Go's client resumes TLS 1.2 by ticket only, which neither nginx
	# issues: their TLS 1.2 resumption is s_time's (Session ID), below.
	for s in nginx nginxlua; do
		for v in 1.2 1.3; do
			for c in rsa ecdsa; do
				bench "$s" "$v" "$c" full "$OUT/runs/bench-$s-$v-$c-full-$rep.json"
				if [ "$v" = 1.3 ]; then
					bench "$s" "$v" "$c" first "$OUT/runs/bench-$s-$v-$c-first-$rep.json"
					bench "$s" "$v" "$c" resume "$OUT/runs/bench-$s-$v-$c-resume-$rep.json"
				fi
			done
		done
	done
	while read -r s m fl; do
		# shellcheck disable=SC2046
		stime "$s" "$m" "$fl" "$OUT/runs/stime-$s-$m-$fl-$rep.json" "${gw_pid[$s]}"
	done < <(stime_cases)
done
echo "load average at end of rounds: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

# --- cross-gateway: sessions made on remote or remote-b, resumed on the other ------
# Each worker makes one session on one gateway (its priming handshake; half
# the workers start on each), waits --pause, and resumes it on the other: FLEET_SESSIONS sessions per
# case, in batches of 50 workers (a burst of 50 first handshakes at once
# on 2 cores already queues each for ~10 ms; the fetch deadline is 50 ms).
log "cross-gateway resumption"
for v in 1.2 1.3; do
	for pause in 0ms 10ms 100ms; do
		left=$FLEET_SESSIONS
		i=0
		while [ "$left" -gt 0 ]; do
			n=$((left < 50 ? left : 50))
			i=$((i + 1))
			"$TG" bench --addr "${gw_addr[remote]},${gw_addr[remote-b]}" --sni ecdsa.perf.test --tls "$v" \
				--mode resume --pause "$pause" --concurrency "$n" --count "$n" --duration 60s --json \
				>"$OUT/fleet/fleet-$v-$pause-$i.json"
			left=$((left - n))
		done
	done
done

# --- CPU profiles of resume runs (separate runs: profiling costs CPU) --------------
handshakes() { # server -> handshakes the gateway has completed so far
	curl -sf "http://${gw_admin[$1]}/metrics" | awk '/^tlsgate_handshakes_total/ && !/failed/ {n += $2} END {print n + 0}'
}
profile() { # name server admin-seconds -- command...
	local name=$1 s=$2 secs=$3
	shift 4
	"$@" >"$OUT/profiles/$name.run" 2>&1 &
	local job=$!
	sleep 0.7 # past priming
	handshakes "$s" >"$OUT/profiles/$name.handshakes"
	curl -sf -o "$OUT/profiles/$name.pb.gz" "http://${gw_admin[$s]}/debug/pprof/profile?seconds=$secs"
	handshakes "$s" >>"$OUT/profiles/$name.handshakes"
	wait $job || true
	go tool pprof -top -nodecount=60 "$TG" "$OUT/profiles/$name.pb.gz" >"$OUT/profiles/$name.top.txt" 2>/dev/null
	go tool pprof -top -cum -nodecount=100000 "$TG" "$OUT/profiles/$name.pb.gz" >"$OUT/profiles/$name.cum.txt" 2>/dev/null
}
log "profiles"
PD=$((DUR + 3))
for s in guest floor remote; do
	for v in 1.2 1.3; do
		profile "$s-$v-rsa-resume" "$s" "$((PD - 1))" -- "$TG" bench --addr "${gw_addr[$s]}" \
			--sni rsa.perf.test --tls "$v" --mode resume --concurrency "$CONC" --duration "${PD}s" --json
	done
done
# Full handshakes with and without the guest (ECDSA, so the signature does
# not hide the rest): what the guest adds to a full handshake.
for s in guest floor; do
	profile "$s-1.2-ecdsa-full" "$s" "$((PD - 1))" -- "$TG" bench --addr "${gw_addr[$s]}" \
		--sni ecdsa.perf.test --tls 1.2 --mode full --concurrency "$CONC" --duration "${PD}s" --json
done
# All hits (Session ID) through the guest, and the floor's stateless tickets,
# both with OpenSSL's client: the guest's cost on a resumed handshake.
profile "guest-stime-reuse-sessionid" guest "$((PD - 1))" -- env OPENSSL_CONF="$here/openssl-no-ticket.cnf" \
	openssl s_time -connect "${gw_addr[guest]}" -reuse -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -time "$PD"
profile "floor-stime-reuse-ticket" floor "$((PD - 1))" -- \
	openssl s_time -connect "${gw_addr[floor]}" -reuse -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -time "$PD"

for s in guest floor remote remote-b; do
	curl -sf -o "$OUT/metrics/$s.txt" "http://${gw_admin[$s]}/metrics"
done

# --- the Wasm host: one KV read and one store, side by side ------------------
# After the servers' measurements (compiling skews them); the servers idle.
log "wasmhost benchmarks"
go test -run '^$' -bench 'DirectKVGet|BucketGet|FetchKV|FetchGoGuest|TrivialCall$|BucketPut|StoreGoGuest' \
	-benchtime 5000x -count 5 ./wasmhost/ >"$OUT/gotest/wasmhost.txt" 2>&1 || log "wasmhost benchmarks failed: see $OUT/gotest"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

python3 "$here/summarize.py" "$OUT" >"$OUT/summary.md"
log "done: $OUT/summary.md"
cat "$OUT/summary.md"
