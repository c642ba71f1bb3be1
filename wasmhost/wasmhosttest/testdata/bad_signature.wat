;; bad_signature.wat: exports tlsgate_on_session_fetch as (i32) -> i32 instead
;; of () -> i32.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names tlsgate_on_session_fetch.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (param i32) (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
