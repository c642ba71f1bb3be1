;; init_fails.wat: tlsgate_on_init returns StatusInternal (8).
;;
;; Documented outcome: the first instance is refused, so the module is refused
;; at load (pool creation) with an error that names tlsgate_on_init (in
;; wasmhost a GuestError of kind init).
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_init") (result i32) (i32.const 8))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
