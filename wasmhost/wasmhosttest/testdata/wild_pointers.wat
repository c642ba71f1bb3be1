;; wild_pointers.wat: tlsgate_on_session_fetch calls input, set_session, log,
;; kv_get, kv_put and await_any with buffers past the end of its one-page
;; memory, negative lengths, and pointers near 2^32 whose end wraps around;
;; then it hands back the 4 bytes "wild" with set_session and returns StatusOK.
;;
;; Documented outcome: loads; no host function reads or writes outside guest
;; memory (each returns StatusInvalidMemory or StatusBadArgument); because
;; StatusInvalidMemory was returned, the host discards the instance and the
;; fetch fails with a GuestError of kind misuse: it is never a hit, whatever
;; the guest returns.
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault. Every store returns StatusOK.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "tlsgate" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "tlsgate" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (import "tlsgate" "kv_put" (func $kv_put (param i32 i32 i32 i32 i64) (result i32)))
  (import "tlsgate" "await_any" (func $await_any (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "wild")
  (func (export "tlsgate_abi_v1"))
  ;; $benign reports whether the session identifier starts with byte 0x00.
  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (if (call $benign) (then (return (i32.const 1))))
    ;; input: buffer just past the end, buffer wrapping around 2^32, negative limit.
    (drop (call $input (i32.const 1) (i32.const 65536) (i32.const 64)))
    (drop (call $input (i32.const 1) (i32.const 65520) (i32.const 64)))
    (drop (call $input (i32.const 1) (i32.const 0xfffffff0) (i32.const 64)))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const -1)))
    ;; set_session: crossing the end, wrapping, negative length.
    (drop (call $set_session (i32.const 65530) (i32.const 64)))
    (drop (call $set_session (i32.const 0xfffffff0) (i32.const 32)))
    (drop (call $set_session (i32.const 0) (i32.const -1)))
    ;; log: crossing the end, wrapping, negative length.
    (drop (call $log (i32.const 1) (i32.const 65000) (i32.const 4096)))
    (drop (call $log (i32.const 1) (i32.const 0xffffff00) (i32.const 0x200)))
    (drop (call $log (i32.const 1) (i32.const 0) (i32.const -1)))
    ;; kv_get: key crossing the end, wrapping, negative length.
    (drop (call $kv_get (i32.const 65535) (i32.const 16)))
    (drop (call $kv_get (i32.const 0xfffffff8) (i32.const 16)))
    (drop (call $kv_get (i32.const 0) (i32.const -5)))
    ;; kv_put: valid key, value crossing the end.
    (drop (call $kv_put (i32.const 16) (i32.const 4) (i32.const 65530) (i32.const 100) (i64.const 0)))
    ;; await_any: handle array crossing the end.
    (drop (call $await_any (i32.const 65534) (i32.const 4) (i32.const 0)))
    (drop (call $set_session (i32.const 16) (i32.const 4)))
    (i32.const 0)))
