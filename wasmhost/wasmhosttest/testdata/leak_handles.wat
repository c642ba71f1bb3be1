;; leak_handles.wat: tlsgate_on_session_fetch starts 64 kv_get operations
;; (abi.MaxHandles) and a 65th, and returns without releasing any.
;;
;; Documented outcome: loads; the 65th kv_get returns -StatusLimitExceeded;
;; the guest then returns StatusNotFound, so the fetch is a miss. The host
;; releases the 64 handles when the export returns: the next fetch on the same
;; pool can start 64 operations again, so it is a miss too, every time. If the
;; 65th kv_get succeeds, or one of the first 64 fails, the guest returns
;; StatusInternal (8) and the fetch is a GuestError.
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault. Every store returns StatusOK.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "leak")
  (func (export "tlsgate_abi_v1"))
  ;; $benign reports whether the session identifier starts with byte 0x00.
  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $i i32)
    (if (call $benign) (then (return (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.eq (local.get $i) (i32.const 64)))
        (if (i32.lt_s (call $kv_get (i32.const 16) (i32.const 4)) (i32.const 0))
          (then (return (i32.const 8))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (if (i32.ne (call $kv_get (i32.const 16) (i32.const 4)) (i32.const -7))
      (then (return (i32.const 8))))
    (i32.const 1)))
