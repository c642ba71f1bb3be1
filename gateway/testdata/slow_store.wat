;; slow_store.wat: the conformance kit's ok_cache.wat, whose store first
;; burns some CPU (10M loop iterations, tens of milliseconds): a session is resumable
;; only a while after its handshake. Built with wat2wasm by the gateway's
;; tests.
;;
;; tlsgate_on_session_store puts key = InputSessionID,
;; value = InputSession with ttl_ms = InputTTL and returns the completion
;; status. tlsgate_on_session_fetch gets key = InputSessionID: a hit
;; (set_session with the value, StatusOK) after a store, StatusNotFound (a
;; miss) for an unknown identifier. Every handle is released.
;;
;; Memory: [0, 64) session identifier, [64, 72) ttl, [65536, 131072) value.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "tlsgate" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (import "tlsgate" "kv_put" (func $kv_put (param i32 i32 i32 i32 i64) (result i32)))
  (import "tlsgate" "await" (func $await (param i32 i32) (result i32)))
  (import "tlsgate" "result" (func $result (param i32 i32 i32) (result i32)))
  (import "tlsgate" "release" (func $release (param i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "tlsgate_abi_v1"))

  ;; $id copies the session identifier to 0 and returns its length, or -1
  ;; when it is missing, empty or longer than 64 bytes.
  (func $id (result i32)
    (local $n i32)
    (local.set $n (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 1)) (i32.gt_s (local.get $n) (i32.const 64)))
      (then (return (i32.const -1))))
    (local.get $n))

  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $idlen i32) (local $h i32) (local $st i32) (local $n i32)
    (local.set $idlen (call $id))
    (if (i32.lt_s (local.get $idlen) (i32.const 0)) (then (return (i32.const 2))))
    (local.set $h (call $kv_get (i32.const 0) (local.get $idlen)))
    (if (i32.lt_s (local.get $h) (i32.const 0))
      (then (return (i32.sub (i32.const 0) (local.get $h)))))
    (local.set $st (call $await (local.get $h) (i32.const -1)))
    (if (i32.ne (local.get $st) (i32.const 0))
      (then (drop (call $release (local.get $h))) (return (local.get $st))))
    (local.set $n (call $result (local.get $h) (i32.const 65536) (i32.const 65536)))
    (drop (call $release (local.get $h)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (i32.sub (i32.const 0) (local.get $n)))))
    (if (i32.gt_s (local.get $n) (i32.const 65536)) (then (return (i32.const 7))))
    (call $set_session (i32.const 65536) (local.get $n)))

  (func (export "tlsgate_on_session_store") (result i32)
    (local $idlen i32) (local $n i32) (local $ttl i64) (local $h i32) (local $st i32) (local $i i32)
    (loop $burn
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $burn (i32.lt_u (local.get $i) (i32.const 10000000))))
    (local.set $idlen (call $id))
    (if (i32.lt_s (local.get $idlen) (i32.const 0)) (then (return (i32.const 2))))
    (local.set $n (call $input (i32.const 2) (i32.const 65536) (i32.const 65536)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (i32.sub (i32.const 0) (local.get $n)))))
    (if (i32.gt_s (local.get $n) (i32.const 65536)) (then (return (i32.const 7))))
    (if (i32.eq (call $input (i32.const 3) (i32.const 64) (i32.const 8)) (i32.const 8))
      (then (local.set $ttl (i64.load (i32.const 64)))))
    (local.set $h (call $kv_put (i32.const 0) (local.get $idlen)
      (i32.const 65536) (local.get $n) (local.get $ttl)))
    (if (i32.lt_s (local.get $h) (i32.const 0))
      (then (return (i32.sub (i32.const 0) (local.get $h)))))
    (local.set $st (call $await (local.get $h) (i32.const -1)))
    (drop (call $release (local.get $h)))
    (local.get $st)))
