;; fetch_only.wat: exports tlsgate_on_session_fetch (always a miss) but no
;; tlsgate_on_session_store.
;;
;; Documented outcome: loads; every fetch is a miss; a store fails with
;; ErrNoExport (the gateway simply does not store) and the pool keeps serving.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1)))
