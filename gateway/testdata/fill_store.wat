;; fill_store.wat: a hostile neighbour. Its tlsgate_on_session_store writes
;; 4096 values of 64 KiB (256 MiB) under keys 0..4095, awaiting and releasing
;; each, ignoring every status, then returns StatusOK. Its fetch is a miss.
;; Built with wat2wasm by the gateway's tests.
(module
  (import "tlsgate" "kv_put" (func $kv_put (param i32 i32 i32 i32 i64) (result i32)))
  (import "tlsgate" "await" (func $await (param i32 i32) (result i32)))
  (import "tlsgate" "release" (func $release (param i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32)
    (local $i i32) (local $h i32)
    (block $done
      (loop $next
        (br_if $done (i32.eq (local.get $i) (i32.const 4096)))
        (i32.store (i32.const 0) (local.get $i))
        (local.set $h (call $kv_put (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 65536) (i64.const 0)))
        (if (i32.gt_s (local.get $h) (i32.const 0))
          (then
            (drop (call $await (local.get $h) (i32.const -1)))
            (drop (call $release (local.get $h)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0)))
