;; unknown_host_func.wat: imports "tlsgate" "nope", a function ABI v1 does not have.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names "nope".
(module
  (import "tlsgate" "nope" (func $nope (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (call $nope))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
