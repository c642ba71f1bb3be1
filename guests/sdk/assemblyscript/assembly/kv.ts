// The tenant's key-value namespace (docs/abi.md section 5, key-value
// operations). Keys are any bytes, 1 to 512 of them: the host confines them
// to the calling tenant's namespace. Values are at most 65536 bytes.
//
// Blocking calls (get, put, create, del) start one operation and wait for
// it until the call's deadline, returning its status. The start* functions
// return a handle at once (or a negated status), so a guest can run several
// operations concurrently and collect them with wait, waitAny, poll and
// resultInto; every handle it starts it should release.

import * as host from "./host";
import { MAX_HANDLES, MAX_KEY_LEN, MAX_VALUE_LEN, Status } from "./abi";
import { Bytes } from "./bytes";

/** A KV operation in flight: a positive handle. */
export type Handle = i32;

/** FOREVER waits until the call's deadline. */
export const FOREVER: i32 = -1;

function checkKey(key: Bytes): Status {
  if (key.len < 1) return Status.BAD_ARGUMENT;
  if (key.len > MAX_KEY_LEN) return Status.LIMIT_EXCEEDED;
  return Status.OK;
}

function checkValue(value: Bytes): Status {
  return value.len > MAX_VALUE_LEN ? Status.LIMIT_EXCEEDED : Status.OK;
}

/**
 * ttlArg converts a TTL in milliseconds (the TTL input, say) to kv_put's
 * i64: values past the i64 range are capped (the host caps every TTL at the
 * tenant's session lifetime anyway). 0 keeps the key for the namespace's
 * default lifetime.
 */
export function ttlArg(ttlMs: u64): i64 {
  return ttlMs > <u64>i64.MAX_VALUE ? i64.MAX_VALUE : <i64>ttlMs;
}

/** startGet starts a read of key; collect the value with resultInto. */
export function startGet(key: Bytes): Handle {
  const s = checkKey(key);
  if (s != Status.OK) return -s;
  return host.kv_get(key.ptr, key.len);
}

/** startPut starts a write of key = value expiring after ttlMs (0: the namespace's default). */
export function startPut(key: Bytes, value: Bytes, ttlMs: u64): Handle {
  let s = checkKey(key);
  if (s == Status.OK) s = checkValue(value);
  if (s != Status.OK) return -s;
  return host.kv_put(key.ptr, key.len, value.ptr, value.len, ttlArg(ttlMs));
}

/** startCreate is startPut that completes with EXISTS if key is present. */
export function startCreate(key: Bytes, value: Bytes, ttlMs: u64): Handle {
  let s = checkKey(key);
  if (s == Status.OK) s = checkValue(value);
  if (s != Status.OK) return -s;
  return host.kv_create(key.ptr, key.len, value.ptr, value.len, ttlArg(ttlMs));
}

/** startDelete starts a delete of key (deleting a missing key is OK). */
export function startDelete(key: Bytes): Handle {
  const s = checkKey(key);
  if (s != Status.OK) return -s;
  return host.kv_delete(key.ptr, key.len);
}

/**
 * wait waits up to timeoutMs (FOREVER: the call's deadline; 0: poll) and
 * returns the operation's status, or PENDING if it has not completed.
 */
export function wait(h: Handle, timeoutMs: i32 = FOREVER): Status {
  if (h < 0) return <Status>-h;
  if (h == 0) return Status.BAD_HANDLE; // never started: not the host's to see
  return <Status>host.await_(h, timeoutMs);
}

/** poll returns PENDING or the operation's status, without blocking. */
export function poll(h: Handle): Status {
  if (h < 0) return <Status>-h;
  if (h == 0) return Status.BAD_HANDLE;
  return <Status>host.poll(h);
}

const handleScratch = memory.data(MAX_HANDLES * 4);

/**
 * waitAny waits for the first of n handles to complete and returns its
 * index, or a negated status (-PENDING when timeoutMs elapsed, -TIMEOUT at
 * the deadline).
 */
export function waitAny(handles: StaticArray<Handle>, n: i32, timeoutMs: i32 = FOREVER): i32 {
  if (n < 1) return -Status.BAD_ARGUMENT;
  if (n > MAX_HANDLES || n > handles.length) return -Status.LIMIT_EXCEEDED;
  for (let i = 0; i < n; i++) {
    const h = unchecked(handles[i]);
    // A start that failed (a negative status) or a handle never started
    // would be a misuse to the host, which discards the instance.
    if (h <= 0) return -Status.BAD_ARGUMENT;
    store<i32>(handleScratch + <usize>(i * 4), h);
  }
  return host.await_any(handleScratch, n, timeoutMs);
}

/**
 * resultInto replaces the content of into with the value of a completed
 * get, and returns OK, or the operation's status (NOT_FOUND for a missing
 * key). For other operations it returns their status. into is emptied
 * whatever the outcome.
 */
export function resultInto(h: Handle, into: Bytes): Status {
  into.reset();
  if (h < 0) return <Status>-h;
  if (h == 0) return Status.BAD_HANDLE;
  // A result does not change once complete: the second try fits.
  for (let try_ = 0; try_ < 2; try_++) {
    const n = host.result(h, into.ptr, into.cap);
    if (n < 0) return <Status>-n;
    if (n <= into.cap) {
      into.len = n;
      return Status.OK;
    }
    into.reserve(n);
  }
  return Status.INTERNAL;
}

/** release frees a handle; a pending operation is cancelled. */
export function release(h: Handle): void {
  if (h > 0) host.release(h);
}

function finish(h: Handle): Status {
  const s = wait(h);
  release(h);
  return s;
}

/** get reads key into into: OK, NOT_FOUND, or the failure's status. */
export function get(key: Bytes, into: Bytes): Status {
  const h = startGet(key);
  let s = wait(h);
  if (s == Status.OK) s = resultInto(h, into);
  release(h);
  return s;
}

/** put writes key = value, expiring after ttlMs (0: the namespace's default). */
export function put(key: Bytes, value: Bytes, ttlMs: u64): Status {
  return finish(startPut(key, value, ttlMs));
}

/** create writes key = value only if key is absent (EXISTS otherwise). */
export function create(key: Bytes, value: Bytes, ttlMs: u64): Status {
  return finish(startCreate(key, value, ttlMs));
}

/** del removes key; removing a missing key is OK. */
export function del(key: Bytes): Status {
  return finish(startDelete(key));
}

/**
 * Future is one KV operation in flight, future-style, and reusable: keep one
 * per concurrent operation in a global and start the next operation on it,
 * so that it allocates nothing per call (the stub runtime never frees).
 * await releases the handle once the operation has completed (a get's value
 * is copied into the Future first, for result), so a Future never holds a
 * handle past the call that awaited it. A Future started and not awaited is
 * released by the host when the export returns; starting it again in a later
 * call is fine, but release() it only in the call that started it (the host
 * would take the stale handle as a misuse and discard the instance).
 */
export class Future {
  handle: Handle = 0;
  status: Status = Status.BAD_HANDLE;
  value: Bytes = new Bytes();

  private started(h: Handle): Future {
    this.handle = h > 0 ? h : 0;
    this.status = h > 0 ? Status.PENDING : <Status>-h;
    this.value.reset();
    return this;
  }

  /** get starts a read of key. */
  get(key: Bytes): Future { return this.started(startGet(key)); }
  /** put starts a write of key = value, expiring after ttlMs. */
  put(key: Bytes, value: Bytes, ttlMs: u64): Future { return this.started(startPut(key, value, ttlMs)); }
  /** create starts a write that completes with EXISTS if key is present. */
  create(key: Bytes, value: Bytes, ttlMs: u64): Future { return this.started(startCreate(key, value, ttlMs)); }
  /** del starts a delete of key. */
  del(key: Bytes): Future { return this.started(startDelete(key)); }

  /**
   * await waits up to timeoutMs (FOREVER: the call's deadline) and returns
   * the status, or PENDING (the Future is then still in flight).
   */
  await(timeoutMs: i32 = FOREVER): Status {
    if (this.handle == 0) return this.status;
    const s = wait(this.handle, timeoutMs);
    if (s != Status.PENDING) this.complete(s);
    return s;
  }

  /** poll returns PENDING or the status, without blocking. */
  poll(): Status { return this.await(0); }

  /** result copies a completed get's value into into: OK, or the operation's status. */
  result(into: Bytes): Status {
    into.reset();
    if (this.handle != 0) return Status.PENDING;
    if (this.status == Status.OK) into.append(this.value);
    return this.status;
  }

  /** release cancels an operation still in flight (in the call that started it). */
  release(): void {
    release(this.handle);
    this.handle = 0;
    this.status = Status.BAD_HANDLE;
  }

  private complete(s: Status): void {
    if (s == Status.OK) {
      const r = resultInto(this.handle, this.value);
      // A get's value, or 0 for the other operations (resultInto then
      // reports OK too): only a failure to read it changes the status.
      if (r != Status.OK) s = r;
    }
    release(this.handle);
    this.handle = 0;
    this.status = s;
  }
}
