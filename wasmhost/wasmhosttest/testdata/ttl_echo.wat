;; ttl_echo.wat: the store puts its TTL input (8 bytes, little-endian) under
;; the key "ttl"; the fetch hands that value back as its session. The kit
;; reads through it what TTL the host gave a store.
;;
;; Documented outcome: the TTL input of a store is its lifetime in
;; milliseconds rounded up, at least 1: a lifetime under a millisecond reads
;; 1, never 0 (which kv_put would take as the namespace's default lifetime).
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "tlsgate" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (import "tlsgate" "kv_put" (func $kv_put (param i32 i32 i32 i32 i64) (result i32)))
  (import "tlsgate" "await" (func $await (param i32 i32) (result i32)))
  (import "tlsgate" "result" (func $result (param i32 i32 i32) (result i32)))
  (import "tlsgate" "release" (func $release (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ttl")
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_store") (result i32)
    (local $h i32) (local $st i32)
    (if (i32.ne (call $input (i32.const 3) (i32.const 16) (i32.const 8)) (i32.const 8))
      (then (return (i32.const 8))))
    (local.set $h (call $kv_put (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 8) (i64.const 0)))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (return (i32.sub (i32.const 0) (local.get $h)))))
    (local.set $st (call $await (local.get $h) (i32.const -1)))
    (drop (call $release (local.get $h)))
    (local.get $st))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $h i32) (local $st i32) (local $n i32)
    (local.set $h (call $kv_get (i32.const 0) (i32.const 3)))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (return (i32.sub (i32.const 0) (local.get $h)))))
    (local.set $st (call $await (local.get $h) (i32.const -1)))
    (if (local.get $st) (then (drop (call $release (local.get $h))) (return (local.get $st))))
    (local.set $n (call $result (local.get $h) (i32.const 32) (i32.const 8)))
    (drop (call $release (local.get $h)))
    (if (i32.ne (local.get $n) (i32.const 8)) (then (return (i32.const 8))))
    (call $set_session (i32.const 32) (i32.const 8))))
