;; A tenant's guest for the gateway's tests (ABI 1.1) whose upstream session
;; fetch traps and whose upstream session store returns INTERNAL: requests
;; through it must still succeed, with full handshakes to the upstream.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_upstream_session_fetch") (result i32) (unreachable))
  (func (export "tlsgate_on_upstream_session_store") (result i32) (i32.const 8)))
