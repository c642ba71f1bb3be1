// policycache (AssemblyScript): the port of guests/policycache (Go), with
// the same keys, values and config, so the two share a tenant's sessions.
// A session cache with a per-tenant policy from its guest config, e.g.
//
//   max_ttl=1h;tls13_only=true;prefix=p/
//
//   - prefix (default "p/"): the KV key is prefix + the session identifier.
//   - max_ttl (a Go duration, default 0: no cap): a session is kept for
//     min(TTL input, max_ttl).
//   - tls13_only (default false): TLS 1.2 sessions are not cached: their
//     stores return ACCESS_DENIED, their fetches miss without a KV read.
//
// A store creates the key (kv_create: the first writer of an identifier
// wins; EXISTS is OK). An invalid config refuses the module at load. It
// keeps its tenant's policy in memory, so it does not declare shared
// instances.

import {
  Status, Bytes, kv, MAX_KEY_LEN, MAX_SESSION_ID_LEN, TLS12, TLS13,
  appendSessionID, appendSession, setSession, ttl, tlsVersion, tenant,
  guestConfig, parseConfig, parseDuration, configError, debug, error, statusName,
  appendHex, appendU64, logBytes, Level,
} from "../../sdk/assemblyscript/assembly/index";
export { tlsgate_abi_v1 } from "../../sdk/assemblyscript/assembly/marker";

const prefix = new Bytes(16);
let maxTTLNanos: i64 = 0; // 0: no cap
let minVersion: u32 = TLS12;

const id = new Bytes(64);
const key = new Bytes(MAX_KEY_LEN);
const value = new Bytes(512);
const session = new Bytes(512);

export function tlsgate_on_init(): i32 {
  const cfg = new Bytes();
  guestConfig(cfg);
  const fields = parseConfig(cfg);
  if (fields === null) return refuse(configError());
  prefix.reset().appendString("p/");
  for (let i = 0; i < fields.length; i++) {
    const k = fields[i].key, v = fields[i].value;
    if (k == "prefix") {
      if (String.UTF8.byteLength(v) >= MAX_KEY_LEN - MAX_SESSION_ID_LEN) return refuse("config: prefix is too long");
      prefix.reset().appendString(v);
    } else if (k == "max_ttl") {
      const d = parseDuration(v);
      if (d < 0) return refuse('config: max_ttl "' + v + '" is not a non-negative duration such as 1h or 90s');
      maxTTLNanos = d;
    } else if (k == "tls13_only") {
      if (v == "true") minVersion = TLS13;
      else if (v == "false") minVersion = TLS12;
      else return refuse('config: tls13_only "' + v + '" is not true or false');
    } else {
      return refuse('config: unknown key "' + k + '"');
    }
  }
  debug("policycache: tenant " + tenant() + ': prefix="' + prefix.toString() + '" max_ttl=' +
    (maxTTLNanos > 0 ? (maxTTLNanos / 1000000).toString() + "ms" : "none") +
    " min_version=" + versionName(minVersion));
  return Status.OK;
}

function refuse(why: string): i32 {
  error("policycache: " + why);
  return Status.BAD_ARGUMENT;
}

function versionName(v: u32): string {
  if (v == TLS12) return "TLS 1.2";
  if (v == TLS13) return "TLS 1.3";
  return "TLS below 1.2";
}

// note logs one decision at debug level, "policycache: store 0a1b2c3d:
// <what>", built in a reused buffer: decisions are logged on every call, and
// on the stub runtime a string made per call would never be freed.
const line = new Bytes(128);
function note(op: string, a: string, b: string = "", c: string = ""): void {
  line.reset().appendString("policycache: ").appendString(op).appendByte(0x20);
  appendHex(line, id).appendString(": ").appendString(a).appendString(b).appendString(c);
  logBytes(Level.DEBUG, line);
}

export function tlsgate_on_session_fetch(): i32 {
  appendSessionID(id.reset());
  if (id.len == 0) return Status.BAD_ARGUMENT;
  const v = tlsVersion();
  if (v < minVersion) {
    note("fetch", "miss: ", versionName(v), " sessions are not cached");
    return Status.NOT_FOUND;
  }
  const s = kv.get(key.reset().append(prefix).append(id), value);
  if (s != Status.OK) {
    if (s == Status.NOT_FOUND) note("fetch", "miss");
    else note("fetch", "kv get: ", statusName(s));
    return s;
  }
  const set = setSession(value);
  if (set == Status.OK) note("fetch", "hit");
  else note("fetch", "set_session: ", statusName(set));
  return set;
}

export function tlsgate_on_session_store(): i32 {
  appendSessionID(id.reset());
  if (id.len == 0) return Status.BAD_ARGUMENT;
  const v = tlsVersion();
  if (v < minVersion) {
    note("store", "refused: ", versionName(v), " sessions are not cached");
    return Status.ACCESS_DENIED;
  }
  const keep = keepMillis(ttl());
  appendSession(session.reset());
  const s = kv.create(key.reset().append(prefix).append(id), session, keep);
  if (s == Status.OK) {
    line.reset().appendString("policycache: store ");
    appendHex(line, id).appendString(": stored for ");
    appendU64(line, keep).appendString("ms");
    logBytes(Level.DEBUG, line);
    return Status.OK;
  }
  if (s == Status.EXISTS) {
    note("store", "kept the first session stored under this identifier");
    return Status.OK;
  }
  note("store", "kv create: ", statusName(s));
  return s;
}

/** keepMillis is min(requested, max_ttl) in milliseconds, max_ttl rounded up as the Go guest rounds it. */
function keepMillis(requestedMs: u64): u64 {
  if (maxTTLNanos <= 0) return requestedMs;
  const capMs = <u64>((maxTTLNanos + 999999) / 1000000);
  return requestedMs == 0 || requestedMs > capMs ? capMs : requestedMs;
}
