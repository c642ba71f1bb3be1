;; marker_signature.wat: exports tlsgate_abi_v1 as (i32) -> i32 instead of () -> ().
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names tlsgate_abi_v1.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1") (param i32) (result i32) (local.get 0))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
