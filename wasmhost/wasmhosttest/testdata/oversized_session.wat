;; oversized_session.wat: tlsgate_on_session_fetch calls set_session with
;; 65537 bytes (abi.MaxSessionLen + 1), then returns StatusOK.
;;
;; Documented outcome: loads; set_session returns StatusLimitExceeded and keeps
;; nothing, so the fetch is not a hit: the host never hands back a truncated or
;; oversized session; StatusOK without a session is a GuestError of kind
;; status (the instance is kept).
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault. Every store returns StatusOK.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "tlsgate_abi_v1"))
  ;; $benign reports whether the session identifier starts with byte 0x00.
  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (if (call $benign) (then (return (i32.const 1))))
    (drop (call $set_session (i32.const 0) (i32.const 65537)))
    (i32.const 0)))
