;; A listener's client-hello guest for the gateway's tests (ABI 1.1), led by
;; the first letter of the SNI: d refuses (ACCESS_DENIED), r routes to the
;; tenant "routed", b returns BAD_ARGUMENT (a guest error), t traps; any
;; other goes on by SNI.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_route" (func $set_route (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "routed")
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_client_hello") (result i32)
    (local $c i32)
    (if (i32.le_s (call $input (i32.const 5) (i32.const 0) (i32.const 256)) (i32.const 0))
      (then (return (i32.const 0))))
    (local.set $c (i32.load8_u (i32.const 0)))
    (if (i32.eq (local.get $c) (i32.const 100)) (then (return (i32.const 6))))
    (if (i32.eq (local.get $c) (i32.const 98)) (then (return (i32.const 2))))
    (if (i32.eq (local.get $c) (i32.const 116)) (then (unreachable)))
    (if (i32.eq (local.get $c) (i32.const 114))
      (then (return (call $set_route (i32.const 512) (i32.const 6)))))
    (i32.const 0)))
