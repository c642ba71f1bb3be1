;; store_only.wat: exports tlsgate_on_session_store (always StatusOK) but no
;; tlsgate_on_session_fetch: a write-only cache, e.g. a session audit log.
;;
;; Documented outcome: loads; every store succeeds; a fetch fails with
;; ErrNoExport (a full handshake) and the pool keeps serving.
(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
