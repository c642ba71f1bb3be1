// Call inputs (docs/abi.md section 6) and the hooks' outputs.

import * as host from "./host";
import { Input, Status } from "./abi";
import { Bytes } from "./bytes";

const u64Scratch = memory.data(8);

/**
 * appendInput appends the input of the given kind to into and returns OK, or
 * NOT_FOUND when this call does not carry it (into is then unchanged).
 */
export function appendInput(kind: Input, into: Bytes): Status {
  // An input does not change during a call: the second try fits.
  for (let try_ = 0; try_ < 2; try_++) {
    const room = into.cap - into.len;
    const n = host.input(kind, into.ptr + <usize>into.len, room);
    if (n < 0) return <Status>-n;
    if (n <= room) {
      into.len += n;
      return Status.OK;
    }
    into.reserve(into.len + n);
  }
  return Status.INTERNAL;
}

/** readInput replaces the content of into with the input of the given kind. */
export function readInput(kind: Input, into: Bytes): Status {
  return appendInput(kind, into.reset());
}

/** inputU64 returns an integer input, or 0 when this call does not carry it. */
export function inputU64(kind: Input): u64 {
  if (host.input(kind, u64Scratch, 8) != 8) return 0;
  return load<u64>(u64Scratch);
}

/** inputString returns a UTF-8 input as a string ("" when absent; allocates). */
export function inputString(kind: Input): string {
  const b = new Bytes();
  readInput(kind, b);
  const s = b.toString();
  b.free();
  return s;
}

/** appendSessionID appends the session identifier (fetch and store calls). */
export function appendSessionID(into: Bytes): Status {
  return appendInput(Input.SESSION_ID, into);
}

/** appendSession appends the sealed session to keep (store calls). */
export function appendSession(into: Bytes): Status {
  return appendInput(Input.SESSION, into);
}

/** appendUpstream appends the upstream's host:port (upstream session calls). */
export function appendUpstream(into: Bytes): Status {
  return appendInput(Input.UPSTREAM, into);
}

/** ttl is how long the session should be kept, in milliseconds (store calls); at least 1. */
export function ttl(): u64 {
  return inputU64(Input.TTL);
}

/** tlsVersion is 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3); 0 when absent. */
export function tlsVersion(): u32 {
  return <u32>inputU64(Input.TLS_VERSION);
}

/** mechanism is the Mechanism of the offered session; 0 when absent. */
export function mechanism(): u32 {
  return <u32>inputU64(Input.MECHANISM);
}

/** call is the Call now running. */
export function call(): u32 {
  return <u32>inputU64(Input.CALL);
}

/** sessionCreated is the Unix second the session was first made (store calls). */
export function sessionCreated(): u64 {
  return inputU64(Input.SESSION_CREATED);
}

/** tenant is the calling tenant's name (allocates). */
export function tenant(): string {
  return inputString(Input.TENANT);
}

/** serverName is the SNI the client sent, "" when none (allocates). */
export function serverName(): string {
  return inputString(Input.SERVER_NAME);
}

/** clientAddr is the client's ip:port (allocates). */
export function clientAddr(): string {
  return inputString(Input.CLIENT_ADDR);
}

/** alpn is the negotiated application protocol, "" when none (allocates). */
export function alpn(): string {
  return inputString(Input.ALPN);
}

/** ja4 is the ClientHello's JA4 fingerprint (client-hello and certificate calls; allocates). */
export function ja4(): string {
  return inputString(Input.JA4);
}

/** guestConfig replaces the content of into with the guest configuration. */
export function guestConfig(into: Bytes): Status {
  return readInput(Input.GUEST_CONFIG, into);
}

/**
 * setSession hands the sealed session back to the host (fetch and upstream
 * fetch calls). Return OK from the hook afterwards for a hit.
 */
export function setSession(b: Bytes): Status {
  return <Status>host.set_session(b.ptr, b.len);
}

const nameScratch = new Bytes(64);

/** setRoute names the tenant a ClientHello goes to (client-hello calls). */
export function setRoute(tenantName: string): Status {
  nameScratch.reset().appendString(tenantName);
  return <Status>host.set_route(nameScratch.ptr, nameScratch.len);
}

/** setCertificate names the certificate to present (certificate calls). */
export function setCertificate(name: string): Status {
  nameScratch.reset().appendString(name);
  return <Status>host.set_certificate(nameScratch.ptr, nameScratch.len);
}
