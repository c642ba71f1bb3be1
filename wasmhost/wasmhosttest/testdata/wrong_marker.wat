;; wrong_marker.wat: exports tlsgate_abi_v2 instead of tlsgate_abi_v1.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names tlsgate_abi_v1.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v2"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
