;; reactor.wat: a reactor with _initialize and tlsgate_on_init.
;; _initialize sets a flag; on_init fails with INTERNAL unless the flag is
;; set, then returns the first byte of the guest config as its status
;; (0 when empty), or loops forever when that byte is 0xFF. fetch hands back
;; the tenant name as the session.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $initialized (mut i32) (i32.const 0))
  (func (export "tlsgate_abi_v1"))
  (func (export "_initialize") (global.set $initialized (i32.const 1)))
  (func (export "tlsgate_on_init") (result i32)
    (local $n i32)
    (if (i32.eqz (global.get $initialized)) (then (return (i32.const 8))))
    (local.set $n (call $input (i32.const 9) (i32.const 0) (i32.const 16)))
    (if (i32.lt_s (local.get $n) (i32.const 1)) (then (return (i32.const 0))))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0xFF))
      (then (loop $forever (br $forever))))
    (i32.load8_u (i32.const 0)))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $n i32)
    (local.set $n (call $input (i32.const 4) (i32.const 0x100) (i32.const 256)))
    (drop (call $set_session (i32.const 0x100) (local.get $n)))
    (i32.const 0)))
