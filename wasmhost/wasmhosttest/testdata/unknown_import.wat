;; unknown_import.wat: imports "env" "foo", a module the host does not offer.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names the import "env" "foo".
(module
  (import "env" "foo" (func $foo (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (call $foo (i32.const 1)))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
