;; grow_memory.wat: tlsgate_on_session_fetch grows its memory as far as it
;; can, by steps of 4096 pages (256 MiB) halved after each refusal down to one
;; page, then writes one byte just past the end of its memory.
;;
;; Documented outcome: loads; the host caps guest memory below 256 MiB, so
;; the guest ends exactly at the cap, and the write past the end traps: fetch
;; fails with a memory GuestError (FaultMemory: a trap at the cap), the
;; instance is discarded and its memory freed. If 256 MiB were granted the
;; guest returns StatusInternal (8) instead, so a host without a memory cap
;; fails the kit with a status GuestError.
;; A fetch whose session identifier starts with byte 0x00 is a plain miss
;; (StatusNotFound): the kit uses it to check that the pool still serves after
;; the fault. Every store returns StatusOK.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  ;; $benign reports whether the session identifier starts with byte 0x00.
  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $step i32)
    (if (call $benign) (then (return (i32.const 1))))
    (local.set $step (i32.const 4096))
    (block $capped
      (loop $grow
        (if (i32.eq (memory.grow (local.get $step)) (i32.const -1))
          (then
            (br_if $capped (i32.eq (local.get $step) (i32.const 1)))
            (local.set $step (i32.shr_u (local.get $step) (i32.const 1)))))
        (if (i32.ge_u (memory.size) (i32.const 4096)) (then (return (i32.const 8))))
        (br $grow)))
    (i32.store8 (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))
    (i32.const 0)))
