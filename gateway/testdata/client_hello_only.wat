;; A listener's client-hello guest (ABI 1.1): no session hook, so a tenant
;; must refuse it.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_client_hello") (result i32) (i32.const 0)))
