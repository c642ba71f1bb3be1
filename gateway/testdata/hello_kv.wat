;; A listener's client-hello guest for the gateway's tests (ABI 1.1): a deny
;; list in its key-value namespace, keyed by server name. A present key
;; refuses the handshake; a missing one, or any KV trouble, lets it go on.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (import "tlsgate" "await" (func $await (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_client_hello") (result i32)
    (local $n i32) (local $h i32)
    (local.set $n (call $input (i32.const 5) (i32.const 0) (i32.const 256)))
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $h (call $kv_get (i32.const 0) (local.get $n)))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (return (i32.const 0))))
    (if (i32.eqz (call $await (local.get $h) (i32.const -1))) (then (return (i32.const 6))))
    (i32.const 0)))
