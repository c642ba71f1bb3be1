// sessioncache (AssemblyScript): tlsgate's reference session guest, the
// port of guests/sessioncache (Go) with the same keys, values and config,
// so the two share a tenant's sessions. It keeps sealed TLS sessions in the
// tenant's key-value namespace:
//
//   - fetch: get prefix + SESSION_ID; a hit hands the value to the gateway
//     (OK), a missing key is a miss (NOT_FOUND), a store that cannot be
//     reached is UNAVAILABLE, so metrics tell a miss from an outage.
//   - store: put prefix + SESSION_ID = the sealed session, expiring after
//     the TTL input.
//   - upstream fetch and store (ABI 1.1): the same with key "u/" + UPSTREAM.
//
// Config (docs/abi.md section 14): prefix=<p>, default "s/", at most 479
// bytes; any other key is refused. It allocates nothing per call, so it
// runs on AssemblyScript's stub runtime (no garbage collector).
//
// Built by guests/guestbuild (go run ./internal/cmd/buildguests).

import {
  Status, Bytes, kv, MAX_KEY_LEN, MAX_SESSION_ID_LEN,
  appendSessionID, appendSession, appendUpstream, setSession, ttl,
  guestConfig, parseConfig, configError, debug, error,
} from "../../sdk/assemblyscript/assembly/index";
export { tlsgate_abi_v1 } from "../../sdk/assemblyscript/assembly/marker";

// Buffers reused across calls: an instance runs one call at a time.
const prefix = new Bytes(16);
const key = new Bytes(MAX_KEY_LEN);
const value = new Bytes(512);
const session = new Bytes(512);
const upstreamPrefix = "u/";

/** The guest keeps nothing tenant-specific: tenants with its config may share instances. */
export function tlsgate_shared_instances(): void {}

export function tlsgate_on_init(): i32 {
  const cfg = new Bytes();
  guestConfig(cfg);
  const fields = parseConfig(cfg);
  if (fields === null) {
    error("sessioncache: " + configError());
    return Status.BAD_ARGUMENT;
  }
  prefix.reset().appendString("s/");
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.key == "prefix") {
      if (String.UTF8.byteLength(f.value) >= MAX_KEY_LEN - MAX_SESSION_ID_LEN) {
        error("sessioncache: config: prefix is too long");
        return Status.BAD_ARGUMENT;
      }
      prefix.reset().appendString(f.value);
    } else {
      error('sessioncache: config: unknown key "' + f.key + '"');
      return Status.BAD_ARGUMENT;
    }
  }
  debug("sessioncache: key prefix " + prefix.toString());
  return Status.OK;
}

export function tlsgate_on_session_fetch(): i32 {
  appendSessionID(key.reset().append(prefix));
  if (key.len == prefix.len) return Status.BAD_ARGUMENT;
  const s = kv.get(key, value);
  if (s != Status.OK) return s;
  return setSession(value);
}

export function tlsgate_on_session_store(): i32 {
  appendSessionID(key.reset().append(prefix));
  if (key.len == prefix.len) return Status.BAD_ARGUMENT;
  appendSession(session.reset());
  return kv.put(key, session, ttl());
}

export function tlsgate_on_upstream_session_fetch(): i32 {
  appendUpstream(key.reset().appendString(upstreamPrefix));
  if (key.len == upstreamPrefix.length) return Status.BAD_ARGUMENT;
  const s = kv.get(key, value);
  if (s != Status.OK) return s;
  return setSession(value);
}

export function tlsgate_on_upstream_session_store(): i32 {
  appendUpstream(key.reset().appendString(upstreamPrefix));
  if (key.len == upstreamPrefix.length) return Status.BAD_ARGUMENT;
  appendSession(session.reset());
  return kv.put(key, session, ttl());
}
