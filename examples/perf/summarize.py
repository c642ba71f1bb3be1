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
}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    return f"{min(xs):.0f}-{max(xs):.0f}" if xs else "-"


bench = defaultdict(list)
for f in glob.glob(os.path.join(out, "runs", "bench-*.json")):
    _, s, v, c, m, _rep = os.path.basename(f)[: -len(".json")].split("-")
    with open(f) as fh:
        bench[(s, v, c, m)].append(json.load(fh))

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
for s in SERVERS:
    for v in ("1.2", "1.3"):
        for c in ("rsa", "ecdsa"):
            fr, rr = bench.get((s, v, c, "full"), []), bench.get((s, v, c, "resume"), [])
            if not fr or not rr:
                continue
            F = med([cpu(r) for r in fr])
            full_cpu[(s, v, c)] = F
            derived = []
            for r in rr:
                p = r["resumed_percent"] / 100
                if p > 0:
                    derived.append((cpu(r) - (1 - p) * F) / p)
            R = med(derived)
            resumed_derived[(s, v, c)] = R
            print(f"| {s} | {v} | {c} | {med([r['handshakes_per_second'] for r in fr]):.0f} | "
                  f"{F:.0f} us ({spread([cpu(r) for r in fr])}) | "
                  f"{med([r['handshakes_per_second'] for r in rr]):.0f} | "
                  f"{med([r['resumed_percent'] for r in rr]):.1f} | "
                  f"{med([cpu(r) for r in rr]):.0f} us ({spread([cpu(r) for r in rr])}) | "
                  f"{R:.0f} us | {F / R:.1f}x |")
print()
print("servers: " + "; ".join(f"{k} = {v}" for k, v in SERVERS.items()))
print()

print("## Goals\n")
print("| check | TLS | cert | value | goal | met |")
print("|---|---|---|---|---|---|")
for s in ("guest", "remote"):
    for v in ("1.2", "1.3"):
        for c in ("rsa", "ecdsa"):
            g, f = resumed_derived.get((s, v, c)), resumed_derived.get(("floor", v, c))
            if g is None or f is None:
                continue
            ratio = g / f
            print(f"| {s} resumed CPU / floor resumed CPU (derived) | {v} | {c} | {ratio:.2f} | <= 1.10 | "
                  f"{'yes' if ratio <= 1.10 else 'no'} |")
for s in ("guest", "floor", "remote"):
    k = (s, "1.2", "rsa")
    if k in full_cpu and k in resumed_derived:
        ratio = full_cpu[k] / resumed_derived[k]
        print(f"| {s} full / resumed CPU (derived) | 1.2 | rsa | {ratio:.1f}x | >= 5x | "
              f"{'yes' if ratio >= 5 else 'no'} |")
    rr = bench.get((s, "1.2", "rsa", "resume"), [])
    if k in full_cpu and rr:
        ratio = full_cpu[k] / med([cpu(r) for r in rr])
        print(f"| {s} full / resume-run CPU, as measured | 1.2 | rsa | {ratio:.1f}x | >= 5x | "
              f"{'yes' if ratio >= 5 else 'no'} |")
print()

print("## OpenSSL client (`openssl s_time`, TLS 1.2, RSA-2048, ECDHE-RSA-AES128-GCM-SHA256)\n")
print("| server | resumption by | s_time mode | hs/s | resumed % | server CPU/hs (spread) |")
print("|---|---|---|---|---|---|")
for (s, m, fl), rs in sorted(stime.items(), key=lambda kv: (["guest", "floor", "nginx"].index(kv[0][0]), kv[0][2], kv[0][1])):
    print(f"| {s} | {'Session ID' if fl == 'sessionid' else 'ticket'} | -{m} | "
          f"{med([r['handshakes_per_second'] for r in rs]):.0f} | {med([r['resumed_percent'] for r in rs]):.1f} | "
          f"{med([cpu(r) for r in rs]):.0f} us ({spread([cpu(r) for r in rs])}) |")
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
