;; odd_status.wat: the hooks return values that are not in the status table
;; of docs/abi.md section 4: the fetch returns 13, the store -1.
;;
;; Documented outcome: loads; the fetch is a GuestError of kind status (the
;; handshake is full) and the store a GuestError of kind status (nothing is
;; stored); the instance is kept: a value outside the table is a failing
;; status like any other, never a hit and never a success.
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (if (call $benign) (then (return (i32.const 1))))
    (i32.const 13))
  (func (export "tlsgate_on_session_store") (result i32)
    (i32.const -1)))
