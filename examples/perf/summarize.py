#!/usr/bin/env python3
"""Turn the JSON files of one run.sh run into the Markdown tables of
docs/performance.md. Usage: summarize.py OUTDIR (prints to stdout).

Every figure is the median over the rounds; "spread" is min-max over the
rounds, to show the noise. "resumed CPU (derived)" removes the full
handshakes that a resume run contained: R = (C - (1 - p) * F) / p, with C
the run's CPU per handshake, p its resumed share and F the median CPU of a
full handshake of the same server, TLS version and certificate.
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

out = sys.argv[1]
SERVERS = {
    "guest": "tlsgate + reference guest, embedded NATS",
    "floor": "tlsgate, no guest (stateless tickets, the floor)",
    "remote": "tlsgate + reference guest, NATS over loopback TCP",
    "nginx": "nginx, ssl_session_cache, no tickets (TLS 1.3: OpenSSL's stateful tickets)",
    "nginxlua": "nginx + Lua: ssl_session_fetch/store_by_lua over a lua_shared_dict, no tickets",
}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    return f"{min(xs):.0f}-{max(xs):.0f}" if xs else "-"


bench = defaultdict(list)
for f in glob.glob(os.path.join(out, "runs", "bench-*.json")):
    _, s, v, c, m, _rep = os.path.basename(f)[: -len(".json")].split("-")
    with open(f) as fh:
        r = json.load(fh)
    if os.path.exists(f + ".counters"):
        with open(f + ".counters") as fh:
            lines = [ln.split() for ln in fh.read().splitlines() if ln.strip()]
        if len(lines) == 2:
            r["counters"] = [int(b) - int(a) for a, b in zip(*lines)]  # handshakes, puts, stores, bytes
    bench[(s, v, c, m)].append(r)

stime = defaultdict(list)
for f in glob.glob(os.path.join(out, "runs", "stime-*.json")):
    _, s, m, fl, _rep = os.path.basename(f)[: -len(".json")].split("-")
    with open(f) as fh:
        stime[(s, m, fl)].append(json.load(fh))


def cpu(r):
    return r["server_cpu"]["per_handshake_us"]


full_cpu = {}
resumed_derived = {}
print("## Go client (`tlsgate bench`), server CPU per handshake\n")
print("| server | TLS | cert | full: hs/s | full: CPU/hs (spread) | resume run: hs/s | resumed % | "
      "resume run: CPU/hs (spread) | resumed CPU (derived) | full / resumed |")
print("|---|---|---|---|---|---|---|---|---|---|")
first_cpu = {}
for s in SERVERS:
    for v in ("1.2", "1.3"):
        for c in ("rsa", "ecdsa"):
            fr, rr = bench.get((s, v, c, "full"), []), bench.get((s, v, c, "resume"), [])
            if not fr:
                continue
            F = med([cpu(r) for r in fr])
            full_cpu[(s, v, c)] = F
            if not rr:
                print(f"| {s} | {v} | {c} | {med([r['handshakes_per_second'] for r in fr]):.0f} | "
                      f"{F:.0f} us ({spread([cpu(r) for r in fr])}) | - | - | - | - | - |")
                continue
            derived = []
            for r in rr:
                p = r["resumed_percent"] / 100
                if p > 0:
                    derived.append((cpu(r) - (1 - p) * F) / p)
            R = med(derived)
            if derived:
                resumed_derived[(s, v, c)] = R
            print(f"| {s} | {v} | {c} | {med([r['handshakes_per_second'] for r in fr]):.0f} | "
                  f"{F:.0f} us ({spread([cpu(r) for r in fr])}) | "
                  f"{med([r['handshakes_per_second'] for r in rr]):.0f} | "
                  f"{med([r['resumed_percent'] for r in rr]):.1f} | "
                  f"{med([cpu(r) for r in rr]):.0f} us ({spread([cpu(r) for r in rr])}) | "
                  + (f"{R:.0f} us | {F / R:.1f}x |" if derived else "- | - |"))
print()
print("servers: " + "; ".join(f"{k} = {v}" for k, v in SERVERS.items()))
print()
print("### TLS 1.3 full handshakes that accept a session (`--mode first`): what a resumption replaces\n")
print("`--mode full` offers no session cache, so a TLS 1.3 server issues no ticket (and a guest stores nothing); "
      "a client that will resume asks for one on its first, full, handshake.\n")
print("| server | cert | first: hs/s | first: CPU/hs (spread) | full: CPU/hs | resumed CPU (derived) | resumed / first |")
print("|---|---|---|---|---|---|---|")
for s in SERVERS:
    for c in ("rsa", "ecdsa"):
        fr = bench.get((s, "1.3", c, "first"), [])
        if not fr:
            continue
        F1 = med([cpu(r) for r in fr])
        first_cpu[(s, "1.3", c)] = F1
        R = resumed_derived.get((s, "1.3", c))
        print(f"| {s} | {c} | {med([r['handshakes_per_second'] for r in fr]):.0f} | {F1:.0f} us "
              f"({spread([cpu(r) for r in fr])}) | {full_cpu.get((s, '1.3', c), float('nan')):.0f} us | "
              + (f"{R:.0f} us | {R / F1:.2f} |" if R else "- | - |"))
print()

print("## OpenSSL client (`openssl s_time`, TLS 1.2, RSA-2048, ECDHE-RSA-AES128-GCM-SHA256)\n")
print("| server | resumption by | s_time mode | hs/s | resumed % | server CPU/hs (spread) |")
print("|---|---|---|---|---|---|")
ORDER = list(SERVERS)
for (s, m, fl), rs in sorted(stime.items(), key=lambda kv: (ORDER.index(kv[0][0]) if kv[0][0] in ORDER else len(ORDER),
                                                          kv[0][2], kv[0][1])):
    print(f"| {s} | {'Session ID' if fl == 'sessionid' else 'ticket'} | -{m} | "
          f"{med([r['handshakes_per_second'] for r in rs]):.0f} | {med([r['resumed_percent'] for r in rs]):.1f} | "
          f"{med([cpu(r) for r in rs]):.0f} us ({spread([cpu(r) for r in rs])}) |")
print()

def stime_cpu(s, m, fl):
    rs = stime.get((s, m, fl), [])
    return med([cpu(r) for r in rs]) if rs else None


# KV writes per handshake and bytes per stored session, from each gateway's
# counters before and after each run (guest and remote: the reference guest).
print("## Writes: KV writes (put, create) per handshake, bytes per stored session\n")
print("| server | TLS | cert | mode | handshakes | KV writes per handshake | bytes per stored session |")
print("|---|---|---|---|---|---|---|")
for s in ("guest", "remote"):
    for v in ("1.2", "1.3"):
        for c in ("rsa", "ecdsa"):
            for m in ("full", "first", "resume"):
                rs = [r for r in bench.get((s, v, c, m), []) if "counters" in r and r["counters"][0] > 0]
                if not rs:
                    continue
                h = sum(r["counters"][0] for r in rs)
                puts = sum(r["counters"][1] for r in rs)
                st = sum(r["counters"][2] for r in rs)
                by = sum(r["counters"][3] for r in rs)
                print(f"| {s} | {v} | {c} | {m} | {h} | {puts / h:.2f} | {by / st:.0f} |" if st else
                      f"| {s} | {v} | {c} | {m} | {h} | {puts / h:.2f} | - |")
print()

fleet = defaultdict(list)
for f in glob.glob(os.path.join(out, "fleet", "fleet-*.json")):
    _, v, pause, _i = os.path.basename(f)[: -len(".json")].split("-")
    with open(f) as fh:
        fleet[(v, pause)].append(json.load(fh))
if fleet:
    print("## Cross-gateway: sessions made on one gateway, resumed on the other\n")
    print("| TLS | resumed after | sessions | resumed | resumed % |")
    print("|---|---|---|---|---|")
    for v in ("1.2", "1.3"):
        for pause in ("0ms", "10ms", "100ms"):
            rs = fleet.get((v, pause), [])
            if not rs:
                continue
            n = sum(r["handshakes"] for r in rs)
            ok = sum(r["resumed"] for r in rs)
            print(f"| {v} | {pause} | {n} | {ok} | {100 * ok / n:.2f} |" if n else f"| {v} | {pause} | 0 | 0 | - |")
    print()

gobench = defaultdict(lambda: defaultdict(list))
gt = os.path.join(out, "gotest", "wasmhost.txt")
if os.path.exists(gt):
    with open(gt) as fh:
        for line in fh:
            m = re.match(r"(Benchmark\S+?)(-\d+)?\s+\d+\s+([0-9.]+) ns/op(?:\s+([0-9.]+) B/op\s+([0-9.]+) allocs/op)?", line)
            if m:
                gobench[m.group(1)]["ns"].append(float(m.group(3)))
                if m.group(5):
                    gobench[m.group(1)]["allocs"].append(float(m.group(5)))
if gobench:
    print("## The Wasm host: one KV read and one store (`go test -bench`, medians of 5)\n")
    print("| benchmark | time/op | allocs/op |")
    print("|---|---|---|")
    for name, d in gobench.items():
        print(f"| `{name[len('Benchmark'):]}` | {med(d['ns']) / 1000:.2f} us | {med(d['allocs']):.0f} |")
    print()


def gb(name):
    d = gobench.get("Benchmark" + name)
    return med(d["ns"]) if d else None


print("## Goals (issue 10)\n")
print("| check | TLS | cert | value | goal | met |")
print("|---|---|---|---|---|---|")


def goal(check, v, c, value, text, ok, fmt="{:.2f}"):
    met = "-" if ok is None else ("yes" if ok else "no")
    print(f"| {check} | {v} | {c} | {fmt.format(value)} | {text} | {met} |")


for s, bound in (("guest", 1.10), ("remote", 1.20)):
    for v in ("1.2", "1.3"):
        for c in ("rsa", "ecdsa"):
            g, f = resumed_derived.get((s, v, c)), resumed_derived.get(("floor", v, c))
            if g is not None and f is not None:
                goal(f"{s} resumed CPU / floor resumed CPU (derived)", v, c, g / f, f"<= {bound:.2f}", g / f <= bound)
for v in ("1.2", "1.3"):
    for c in ("rsa", "ecdsa"):
        k = ("guest", v, c)
        bound = 0.95 if (v, c) == ("1.3", "ecdsa") else 1.0
        if k in full_cpu and k in resumed_derived:
            r = resumed_derived[k] / full_cpu[k]
            goal("guest resumed / full CPU (`--mode full`)", v, c, r, f"<= {bound:.2f}", r <= bound)
        if k in first_cpu and k in resumed_derived:
            r = resumed_derived[k] / first_cpu[k]
            goal("guest resumed / full CPU (`--mode first`)", v, c, r, f"<= {bound:.2f}", r <= bound)
for v, bound in (("1.2", 5.5), ("1.3", 3.0)):
    k = ("guest", v, "rsa")
    if k in full_cpu and k in resumed_derived:
        r = full_cpu[k] / resumed_derived[k]
        goal("guest CPU saving of resumption (Go client, derived)", v, "rsa", r, f">= {bound}x", r >= bound, "{:.1f}x")
for s in ("guest", "nginx", "nginxlua"):
    n, r = stime_cpu(s, "new", "sessionid"), stime_cpu(s, "reuse", "sessionid")
    if n and r:
        goal(f"{s} CPU saving of resumption (s_time, Session ID)", "1.2", "rsa", n / r,
             ">= 5.5x" if s == "guest" else "(comparison)", n / r >= 5.5 if s == "guest" else None, "{:.1f}x")
g, l = stime_cpu("guest", "reuse", "sessionid"), stime_cpu("nginxlua", "reuse", "sessionid")
if g and l:
    goal("resumed TLS 1.2 handshakes per server CPU second: guest / nginx + Lua", "1.2", "rsa", l / g, ">= 1",
         l / g >= 1)
for v in ("1.2", "1.3"):
    for pause in ("0ms", "10ms", "100ms"):
        rs = fleet.get((v, pause), [])
        n = sum(r["handshakes"] for r in rs)
        if n:
            ok = sum(r["resumed"] for r in rs)
            goal(f"cross-gateway resumed, {pause} after the first connection", v, "ecdsa", 100 * ok / n,
                 ">= 99.9%", 100 * ok / n >= 99.9, "{:.2f}%")
d, gg, nc = gb("DirectKVGetSession"), gb("FetchGoGuest"), gb("FetchGoGuestNearCache")
if d and gg:
    goal("Go guest fetch / direct get of the same entry, cache off", "-", "-", gg / d, "<= 1.30", gg / d <= 1.30)
if nc:
    goal("Go guest fetch, near cache hit", "-", "-", nc / 1000, "<= 5 us", nc <= 5000, "{:.2f} us")
print()

# CPU profiles: where a handshake's server CPU goes, in microseconds per
# handshake (profile samples in a component / handshakes completed while the
# profile ran). Components overlap (a guest fetch includes wazero and the
# NATS client), so rows do not sum to the total.
COMPONENTS = [
    ("TLS handshake", r"crypto/tls\.\(\*Conn\)\.serverHandshake"),
    ("RSA sign", r"crypto/rsa\."),
    ("ECDSA sign", r"crypto/ecdsa\."),
    ("key exchange (X25519, ML-KEM)", r"crypto/ecdh\.|crypto/mlkem\."),
    ("guest fetch", r"gateway\.\(\*connSessions\)\.lookup"),
    ("guest store (queue)", r"gateway\.\(\*storeQueue\)\.run"),
    ("wazero", r"tetratelabs/wazero"),
    ("NATS client", r"nats-io/nats\.go"),
    ("NATS server (in-process)", r"nats-io/nats-server"),
    ("  of which JetStream file store", r"server\.\(\*fileStore\)"),
    ("goroutine stack growth", r"runtime\.newstack"),
    ("GC background", r"runtime\.gcBgMarkWorker"),
    ("scheduler (findRunnable)", r"runtime\.findRunnable"),
    ("builtin upstream (HTTP server)", r"net/http\.\(\*conn\)\.serve"),
]
profs = sorted(glob.glob(os.path.join(out, "profiles", "*.pb.gz")))
binary = os.path.join(out, "bin", "tlsgate")


def pprof_seconds(prof, focus=None):
    args = ["go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-edgefraction=0"]
    if focus:
        args.append("-focus=" + focus)
    text = subprocess.run(args + [binary, prof], capture_output=True, text=True).stdout
    if focus:
        m = re.search(r"Showing nodes accounting for [^,]+, ([0-9.]+)% of ([0-9.]+)(m?s) total", text)
        if not m:
            return 0.0
        total = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
        return total * float(m.group(1)) / 100
    m = re.search(r"Total samples = ([0-9.]+)(m?s)", text)
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1) if m else 0.0


if profs:
    names = [os.path.basename(p)[: -len(".pb.gz")] for p in profs]
    per = {}
    for name, prof in zip(names, profs):
        with open(os.path.join(out, "profiles", name + ".handshakes")) as fh:
            a, b = [int(x) for x in fh.read().split()]
        n = max(b - a, 1)
        per[name] = (n, pprof_seconds(prof), {c: pprof_seconds(prof, rx) for c, rx in COMPONENTS})
    print("## CPU profiles: server CPU per handshake by component (us; components overlap)\n")
    print("| component | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| handshakes profiled | " + " | ".join(str(per[n][0]) for n in names) + " |")
    print("| **total** | " + " | ".join(f"**{1e6 * per[n][1] / per[n][0]:.0f}**" for n in names) + " |")
    for c, _ in COMPONENTS:
        print(f"| {c} | " + " | ".join(f"{1e6 * per[n][2][c] / per[n][0]:.0f}" for n in names) + " |")
    print()

print(f"rounds: {len(next(iter(bench.values()), []))}")
