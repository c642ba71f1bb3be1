;; garbage_session.wat: tlsgate_on_session_fetch hands back 64 bytes from WASI
;; random_get as the session and reports a hit.
;;
;; Documented outcome: loads; fetch is a hit with 64 bytes the host did not
;; seal (the gateway's sealer must reject them; the host passes them through).
;; Randomness is real: two fresh instances hand back different bytes.
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault. Every store returns StatusOK.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
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
    (if (call $random_get (i32.const 1024) (i32.const 64)) (then (return (i32.const 8))))
    (call $set_session (i32.const 1024) (i32.const 64))))
