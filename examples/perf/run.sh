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
# STIME_PROCS parallel `openssl s_time` clients (default 2). With the
# defaults the whole script takes about 9 minutes on 2 cores.
#
# What runs, all on 127.0.0.1 (ports 19401-19453):
#   guest   tlsgate, reference guest, embedded NATS      guest-embedded.yaml
#   floor   tlsgate, no guest: stateless tickets         floor.yaml
#   remote  tlsgate, reference guest, NATS over TCP      guest-remote.yaml
#           (a standalone nats-server, built from the module cache)
#   nginx   Debian nginx, shared session cache, no tickets, one worker
# Rounds interleave the configurations, so background load from other
# processes spreads over all of them rather than landing on one.
set -euo pipefail

REPS=${REPS:-5}
DUR=${DUR:-2}
CONC=${CONC:-4}
STIME_PROCS=${STIME_PROCS:-2}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
OUT=${1:-_build/perf/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$OUT"/{bin,runs,profiles,metrics,logs,data,nginx/tmp}

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- preflight: tools and free ports ------------------------------------------------
for tool in go make nginx openssl python3 curl awk; do
	command -v "$tool" >/dev/null || { log "missing: $tool (nginx: apt-get install -y nginx-light)"; exit 1; }
done
for port in 19401 19402 19403 19404 19422 19451 19452 19453; do
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
	echo "knobs: REPS=$REPS DUR=${DUR}s CONC=$CONC STIME_PROCS=$STIME_PROCS"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2

# --- servers -------------------------------------------------------------------
NATS_PORT=19422
"$OUT/bin/nats-server" -js -sd "$OUT/data/nats" -a 127.0.0.1 -p $NATS_PORT >"$OUT/logs/nats-server.log" 2>&1 &
pids+=($!)

declare -A gw_pid gw_addr gw_admin
gw_addr=([guest]=127.0.0.1:19401 [floor]=127.0.0.1:19402 [remote]=127.0.0.1:19403)
gw_admin=([guest]=127.0.0.1:19451 [floor]=127.0.0.1:19452 [remote]=127.0.0.1:19453)
declare -A gw_config=([guest]=guest-embedded.yaml [floor]=floor.yaml [remote]=guest-remote.yaml)
for s in guest floor remote; do
	"$TG" serve --config "$here/${gw_config[$s]}" --data-dir "$OUT/data/$s" --log-level warn \
		>"$OUT/logs/$s.log" 2>&1 &
	gw_pid[$s]=$!
	pids+=($!)
done

# nginx with its own RSA-2048 certificate (OpenSSL keys for OpenSSL's server).
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=rsa.perf.test -days 2 \
	-keyout "$OUT/nginx/rsa.key" -out "$OUT/nginx/rsa.crt" 2>/dev/null
cp "$here/nginx.conf" "$OUT/nginx/nginx.conf"
nginx -p "$OUT/nginx/" -c "$OUT/nginx/nginx.conf" 2>"$OUT/logs/nginx.log" &
NGINX_MASTER=$!
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
for i in $(seq 1 50); do
	openssl s_client -connect 127.0.0.1:19404 </dev/null >/dev/null 2>&1 && break
	sleep 0.2
done
NGINX_WORKERS=$(ps -o pid= --ppid $NGINX_MASTER | tr -d ' ' | tr '\n' ' ')
log "servers up: guest=${gw_pid[guest]} floor=${gw_pid[floor]} remote=${gw_pid[remote]} nginx=$NGINX_MASTER (+ workers $NGINX_WORKERS)"
echo "nginx processes measured: master $NGINX_MASTER, workers $NGINX_WORKERS" >>"$OUT/env.txt"

# --- measurement helpers -------------------------------------------------------------
sni_of() { echo "$1.perf.test"; }

bench() { # server tls cert mode outfile [extra bench flags]
	local s=$1 v=$2 c=$3 m=$4 f=$5
	shift 5
	"$TG" bench --addr "${gw_addr[$s]}" --sni "$(sni_of "$c")" --tls "$v" --mode "$m" \
		--concurrency "$CONC" --duration "${DUR}s" --server-pid "${gw_pid[$s]}" --json "$@" >"$f"
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
	case $s in
	nginx) addr=127.0.0.1:19404 ;;
	*) addr=${gw_addr[$s]} ;;
	esac
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
	EOF
}

stime_pids() {
	case $1 in
	nginx) echo "$NGINX_MASTER $NGINX_WORKERS" ;;
	*) echo "${gw_pid[$1]}" ;;
	esac
}

# --- warm-up (not recorded): guest instances, NATS buckets, page cache -----------
log "warm-up"
for s in guest floor remote; do
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
				for m in full resume; do
					bench "$s" "$v" "$c" "$m" "$OUT/runs/bench-$s-$v-$c-$m-$rep.json"
				done
			done
		done
	done
	while read -r s m fl; do
		# shellcheck disable=SC2046
		stime "$s" "$m" "$fl" "$OUT/runs/stime-$s-$m-$fl-$rep.json" $(stime_pids "$s")
	done < <(stime_cases)
done
echo "load average at end of rounds: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

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

for s in guest floor remote; do
	curl -sf -o "$OUT/metrics/$s.txt" "http://${gw_admin[$s]}/metrics"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

python3 "$here/summarize.py" "$OUT" >"$OUT/summary.md"
log "done: $OUT/summary.md"
cat "$OUT/summary.md"
