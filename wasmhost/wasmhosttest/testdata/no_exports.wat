;; no_exports.wat: declares ABI v1 and exports memory, but neither
;; tlsgate_on_session_fetch nor tlsgate_on_session_store.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names the missing exports.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1")))
