;; loop_fetch.wat: tlsgate_on_session_fetch never returns.
;;
;; Documented outcome: loads; fetch fails with a GuestError of kind timeout once the
;; call deadline passes (the instance is closed, never reused) and the caller's
;; goroutine is released at the deadline.
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault. Every store returns StatusOK.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  ;; $benign reports whether the session identifier starts with byte 0x00.
  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (if (call $benign) (then (return (i32.const 1))))
    (loop $forever (br $forever))
    (i32.const 0)))
