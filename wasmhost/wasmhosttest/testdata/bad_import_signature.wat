;; bad_import_signature.wat: imports "tlsgate" "input" as (i64) -> () instead of
;; (i32, i32, i32) -> i32.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names "input".
(module
  (import "tlsgate" "input" (func $input (param i64)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (call $input (i64.const 1))
    (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
