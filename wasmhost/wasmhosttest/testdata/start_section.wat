;; start_section.wat: a module with a Wasm start function (what AssemblyScript
;; emits for its top-level statements) and no _initialize. The start function
;; reads inputs; the fetch checks what it saw.
;;
;; Documented outcome: loads; the host runs the start function once per
;; instance, first, as it runs _initialize: CALL reads INIT (1), TENANT is
;; there, SESSION_ID is -NOT_FOUND. The fetch then misses (StatusNotFound);
;; it traps if the start function did not run or saw other inputs. There is
;; no store export.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func $start
    (i32.store (i32.const 16) (call $input (i32.const 11) (i32.const 0) (i32.const 8)))    ;; CALL at [0, 8)
    (i32.store (i32.const 20) (call $input (i32.const 1) (i32.const 64) (i32.const 64)))   ;; SESSION_ID
    (i32.store (i32.const 24) (call $input (i32.const 4) (i32.const 128) (i32.const 64)))) ;; TENANT
  (start $start)
  (func (export "tlsgate_on_session_fetch") (result i32)
    (if (i32.ne (i32.load (i32.const 16)) (i32.const 8)) (then unreachable))
    (if (i64.ne (i64.load (i32.const 0)) (i64.const 1)) (then unreachable))
    (if (i32.ne (i32.load (i32.const 20)) (i32.const -1)) (then unreachable))
    (if (i32.le_s (i32.load (i32.const 24)) (i32.const 0)) (then unreachable))
    (i32.const 1)))
