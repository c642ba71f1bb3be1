;; sandbox.wat: tlsgate_on_session_fetch inspects the WASI sandbox: the
;; real-time clock reads after 2023-11-14 (1.7e18 ns since 1970), the monotonic
;; clock advances, the environment and the argument list are empty, and file
;; descriptor 3 is not a preopened directory (no filesystem).
;;
;; Documented outcome: loads; fetch is a miss when every check passes. When a
;; check fails the guest reports a hit whose session is the check's name
;; ("realtime", "monotonic", "environ", "args" or "preopen"), so the kit can
;; say which part of the sandbox is wrong. Every store returns StatusOK.
(module
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "realtime")
  (data (i32.const 272) "monotonic")
  (data (i32.const 288) "environ")
  (data (i32.const 304) "args")
  (data (i32.const 320) "preopen")
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func $fail (param $ptr i32) (param $len i32) (result i32)
    (drop (call $set_session (local.get $ptr) (local.get $len)))
    (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $t i64) (local $i i32)
    ;; realtime clock (id 0)
    (if (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0))
      (then (return (call $fail (i32.const 256) (i32.const 8)))))
    (if (i64.lt_u (i64.load (i32.const 0)) (i64.const 1700000000000000000))
      (then (return (call $fail (i32.const 256) (i32.const 8)))))
    ;; monotonic clock (id 1) advances within 1000 reads
    (if (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8))
      (then (return (call $fail (i32.const 272) (i32.const 9)))))
    (local.set $t (i64.load (i32.const 8)))
    (block $advanced
      (loop $again
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8)))
        (br_if $advanced (i64.gt_u (i64.load (i32.const 8)) (local.get $t)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 1000)))
        (return (call $fail (i32.const 272) (i32.const 9)))))
    ;; no environment
    (i64.store (i32.const 16) (i64.const -1))
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (if (i32.load (i32.const 16)) (then (return (call $fail (i32.const 288) (i32.const 7)))))
    ;; no arguments
    (i64.store (i32.const 24) (i64.const -1))
    (drop (call $args_sizes_get (i32.const 24) (i32.const 28)))
    (if (i32.load (i32.const 24)) (then (return (call $fail (i32.const 304) (i32.const 4)))))
    ;; no preopened directory
    (if (i32.eqz (call $fd_prestat_get (i32.const 3) (i32.const 32)))
      (then (return (call $fail (i32.const 320) (i32.const 7)))))
    (i32.const 1)))
