;; burn_fetch.wat: a guest that is slow without faulting. Its fetch spins
;; 200,000 loop iterations (a few milliseconds, within any fetch deadline)
;; and misses; its store returns StatusOK. Built with wat2wasm by the
;; gateway's tests.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 200000))))
    (i32.const 1)))
