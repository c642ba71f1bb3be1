;; huge_memory.wat: a complete guest whose memory declares a minimum of 4097
;; pages (256 MiB + 64 KiB), more than any host cap allowed by the kit.
;;
;; Documented outcome: refused at load with an error wrapping
;; ErrInvalidModule that names the memory.
(module
  (memory (export "memory") 4097)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))
