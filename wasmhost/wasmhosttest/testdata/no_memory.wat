;; no_memory.wat: a complete guest that does not export its memory.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names the memory export.
(module
  (memory 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
