// The raw host functions of module "tlsgate" (docs/abi.md section 5).
// Pointers are offsets in this module's memory; functions that return a
// length or a handle return a negated status on error.

@external("tlsgate", "input")
export declare function input(kind: i32, buf: usize, limit: i32): i32;

@external("tlsgate", "set_session")
export declare function set_session(ptr: usize, len: i32): i32;

@external("tlsgate", "set_route")
export declare function set_route(ptr: usize, len: i32): i32;

@external("tlsgate", "set_certificate")
export declare function set_certificate(ptr: usize, len: i32): i32;

@external("tlsgate", "log")
export declare function log(level: i32, ptr: usize, len: i32): i32;

@external("tlsgate", "kv_get")
export declare function kv_get(key: usize, keyLen: i32): i32;

@external("tlsgate", "kv_put")
export declare function kv_put(key: usize, keyLen: i32, value: usize, valueLen: i32, ttlMs: i64): i32;

@external("tlsgate", "kv_create")
export declare function kv_create(key: usize, keyLen: i32, value: usize, valueLen: i32, ttlMs: i64): i32;

@external("tlsgate", "kv_delete")
export declare function kv_delete(key: usize, keyLen: i32): i32;

@external("tlsgate", "await")
export declare function await_(handle: i32, timeoutMs: i32): i32;

@external("tlsgate", "await_any")
export declare function await_any(handles: usize, n: i32, timeoutMs: i32): i32;

@external("tlsgate", "poll")
export declare function poll(handle: i32): i32;

@external("tlsgate", "result")
export declare function result(handle: i32, buf: usize, limit: i32): i32;

@external("tlsgate", "release")
export declare function release(handle: i32): i32;
