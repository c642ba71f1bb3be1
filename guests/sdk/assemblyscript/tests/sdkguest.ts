// The SDK's test guest: each hook runs the SDK through a scenario chosen by
// its inputs and reports what it saw, line by line. A fetch hands the
// report back as its session; the other hooks put it under a key. The
// expected reports are in guests/sdktest/assemblyscript_test.go, which runs
// this guest on tlsgate's real host with a real NATS key-value store.

import {
  Status, Input, Level, Bytes, kv, statusName, host,
  readInput, inputU64, tenant, serverName, alpn, clientAddr, ja4, tlsVersion, mechanism, call, ttl,
  sessionCreated, appendSessionID, appendSession, appendUpstream, guestConfig, setSession, setRoute,
  setCertificate, log, debug, info, warn, error, MAX_VALUE_LEN, MAX_KEY_LEN,
} from "../assembly/index";
export { tlsgate_abi_v1 } from "../assembly/marker";

let report = "";
function line(s: string): void {
  report += s + "\n";
}
function b(s: string): Bytes {
  return new Bytes().appendString(s);
}
function q(s: string): string {
  return '"' + s + '"';
}
function st(s: Status): string {
  return statusName(s);
}

const out = new Bytes();
const keep = new kv.Future(); // a Future kept across calls
function finish(): i32 {
  out.reset().appendString(report);
  report = "";
  return setSession(out);
}
function putReport(key: string): i32 {
  const r = report;
  report = "";
  return kv.put(b(key), b(r), 0);
}

function header(): void {
  const cfg = new Bytes();
  guestConfig(cfg);
  line("call=" + call().toString() + " tenant=" + q(tenant()) + " config=" + q(cfg.toString()));
}

function sessionID(): string {
  const id = new Bytes();
  appendSessionID(id);
  return id.toString();
}

export function tlsgate_on_session_fetch(): i32 {
  const sid = sessionID();
  if (sid == "inputs") {
    header();
    line("sid=" + q(sid) + " sni=" + q(serverName()) + " alpn=" + q(alpn()) + " addr=" + q(clientAddr()));
    line("version=0x0" + tlsVersion().toString(16) + " mechanism=" + mechanism().toString());
    const s = new Bytes();
    line("session: " + st(readInput(Input.SESSION, s)) + " ttl=" + ttl().toString() + " created=" + sessionCreated().toString());
    line("unknown input: " + st(<Status>-host.input(99, 0, 0)));
  } else if (sid == "kv") {
    const v = new Bytes();
    line("get missing: " + st(kv.get(b("k"), v)));
    line("put: " + st(kv.put(b("k"), b("1"), 60000)));
    line("get: " + st(kv.get(b("k"), v)) + " " + q(v.toString()));
    line("create present: " + st(kv.create(b("k"), b("2"), 0)));
    line("create absent: " + st(kv.create(b("k2"), b("2"), 0)));
    line("delete: " + st(kv.del(b("k"))) + " missing: " + st(kv.del(b("nothing"))));
    line("get deleted: " + st(kv.get(b("k"), v)));
    line("empty key: " + st(kv.get(new Bytes(), v)));
    const long = new Bytes();
    for (let i = 0; i <= MAX_KEY_LEN; i++) long.appendByte(0x61);
    line("long key: " + st(kv.get(long, v)));
    const bin = new Bytes().appendByte(0).appendByte(0xff).appendByte(0x2f);
    line("binary key: " + st(kv.put(bin, b("bin"), 0)) + " " + st(kv.get(bin, v)) + " " + q(v.toString()));
    line("huge ttl: " + st(kv.put(b("forever"), b("x"), 0xffffffffffffffff)));
  } else if (sid == "large") {
    const big = new Bytes(MAX_VALUE_LEN + 1);
    for (let i = 0; i < MAX_VALUE_LEN; i++) big.appendByte(<u8>i);
    line("put max value: " + st(kv.put(b("big"), big, 0)));
    const v = new Bytes(16);
    const s = kv.get(b("big"), v);
    line("get max value: " + st(s) + " len=" + v.len.toString() + " equal=" + (v.equals(big) ? "true" : "false"));
    big.appendByte(1);
    line("put too large: " + st(kv.put(b("big"), big, 0)));
    line("set too large: " + st(setSession(big)));
  } else if (sid == "async") {
    kv.put(b("one"), b("1"), 0);
    kv.put(b("two"), b("2"), 0);
    // Three gets in flight, collected in the order they complete.
    const hs = new StaticArray<kv.Handle>(3);
    const at = new StaticArray<i32>(3);
    hs[0] = kv.startGet(b("one"));
    hs[1] = kv.startGet(b("two"));
    hs[2] = kv.startGet(b("three"));
    for (let i = 0; i < 3; i++) at[i] = i;
    const v = new Bytes();
    const got = ["?", "?", "?"];
    for (let n = 3; n > 0; n--) {
      const i = kv.waitAny(hs, n);
      if (i < 0) { line("await_any: " + st(<Status>-i)); break; }
      const s = kv.resultInto(hs[i], v);
      got[at[i]] = s == Status.OK ? q(v.toString()) : st(s);
      kv.release(hs[i]);
      hs[i] = hs[n - 1];
      at[i] = at[n - 1];
    }
    line("results: " + got[0] + " " + got[1] + " " + got[2]);
    line("await any of nothing: " + (kv.waitAny(hs, 0) == -Status.BAD_ARGUMENT ? "BAD_ARGUMENT" : "?"));
    const h = kv.startGet(b("two"));
    let p = kv.poll(h);
    const s = kv.wait(h);
    line("poll then await: " + (p == Status.PENDING || p == Status.OK ? "ok" : st(p)) + " " + st(s) + " " +
      st(kv.resultInto(h, v)) + " " + q(v.toString()));
    line("result again: " + st(kv.resultInto(h, v)) + " " + q(v.toString()));
    kv.release(h);
    const f = new kv.Future(), g = new kv.Future();
    f.get(b("one"));
    g.put(b("four"), b("4"), 0);
    const fs = f.await(), gs = g.await();
    line("futures: " + st(fs) + " " + st(f.result(v)) + " " + q(v.toString()) + " put " + st(gs));
    f.release();
    line("released future: " + st(f.await()) + " reused: " + st(f.get(b("four")).await()) + " " + st(f.result(v)) + " " + q(v.toString()));
    f.release();
    g.release();
    const many = new StaticArray<kv.Handle>(70);
    let limited = 0;
    for (let i = 0; i < 70; i++) {
      many[i] = kv.startGet(b("one"));
      if (many[i] == -Status.LIMIT_EXCEEDED) limited++;
    }
    line("over the handle limit: " + limited.toString() + " limited");
    for (let i = 0; i < 70; i++) kv.release(many[i]);
  } else if (sid == "future1") {
    keep.get(b("one")); // left in flight: the host releases it when the call returns
    line("started");
  } else if (sid == "future2") {
    kv.put(b("one"), b("1"), 0);
    const s = keep.get(b("one")).await();
    const v = new Bytes();
    line("reused in a later call: " + st(s) + " " + st(keep.result(v)) + " " + q(v.toString()));
    const bad = new StaticArray<kv.Handle>(2);
    bad[0] = kv.startGet(b("one"));
    bad[1] = kv.startGet(new Bytes()); // a start that failed
    line("await any with a failed start: " + (kv.waitAny(bad, 2) == -Status.BAD_ARGUMENT ? "BAD_ARGUMENT" : "?") +
      " wait on nothing: " + st(kv.wait(0)));
    kv.wait(bad[0]);
    kv.release(bad[0]);
  } else if (sid == "log") {
    debug("debug message");
    info("info message");
    warn("warn message");
    error("error message");
    log(Level.INFO, "é and ünïcode");
    const m = b("bad level");
    line("bad level: " + st(<Status>host.log(9, m.ptr, m.len)));
  } else {
    return Status.NOT_FOUND;
  }
  return finish();
}

export function tlsgate_on_session_store(): i32 {
  header();
  line("sid=" + q(sessionID()) + " sni=" + q(serverName()) + " alpn=" + q(alpn()) + " addr=" + q(clientAddr()));
  line("version=0x0" + tlsVersion().toString(16) + " mechanism=" + mechanism().toString());
  const s = new Bytes();
  appendSession(s);
  line("session=" + q(s.toString()) + " ttl=" + ttl().toString() + " created=" + sessionCreated().toString());
  line("set_session in store: " + st(setSession(s)));
  line("set_route in store: " + st(setRoute("x")));
  line("set_certificate in store: " + st(setCertificate("x")));
  return putReport("report");
}

export function tlsgate_on_client_hello(): i32 {
  const sni = serverName();
  header();
  line("sni=" + q(sni) + " addr=" + q(clientAddr()) + " ja4=" + q(ja4()));
  line("empty route: " + st(setRoute("")) + " long route: " + st(setRoute("r".repeat(65))));
  putReport("hello");
  if (sni == "deny.test") return Status.ACCESS_DENIED;
  if (sni == "route.test") return setRoute("routed");
  return Status.OK;
}

export function tlsgate_on_certificate(): i32 {
  const sni = serverName();
  header();
  const certs = new Bytes();
  readInput(Input.CERTIFICATES, certs);
  let list = "";
  for (let i = 0; i < certs.len;) {
    const n = <i32>certs.at(i);
    const name = String.UTF8.decodeUnsafe(certs.ptr + <usize>(i + 1), <usize>n);
    list += (list.length ? " " : "") + name + ":" + certs.at(i + 1 + n).toString();
    i += n + 2;
  }
  line("sni=" + q(sni) + " certificates=[" + list + "]");
  line("set_route: " + st(setRoute("x")) + " empty: " + st(setCertificate("")) + " long: " + st(setCertificate("c".repeat(65))));
  putReport("certificate");
  if (sni == "deny.test") return Status.ACCESS_DENIED;
  if (sni == "rsa.test") return setCertificate("rsa");
  if (sni == "missing.test") return setCertificate("missing");
  return Status.OK;
}

export function tlsgate_on_upstream_session_fetch(): i32 {
  header();
  const up = new Bytes();
  appendUpstream(up);
  line("upstream=" + q(up.toString()));
  return finish();
}

export function tlsgate_on_upstream_session_store(): i32 {
  const up = new Bytes();
  appendUpstream(up);
  const s = new Bytes();
  appendSession(s);
  line("call=" + call().toString() + " upstream=" + q(up.toString()) + " session=" + q(s.toString()) + " ttl=" + ttl().toString());
  return putReport("upstream");
}
