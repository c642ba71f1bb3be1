;; fuzz_hostcalls.wat: runs a tape of host calls read from InputGuestConfig,
;; for FuzzHostInputs: the fuzzer chooses every function, pointer, length,
;; kind, level, handle and ttl.
;;
;; The tape is a sequence of 24-byte records, at most 32 are run:
;;
;;   byte 0      op: 0 input, 1 set_session, 2 log, 3 kv_get, 4 kv_put,
;;               5 kv_create, 6 kv_delete, 7 await, 8 await_any, 9 poll,
;;               10 result, 11 release (taken modulo 12)
;;   byte 1      bit 0 set: replace a with the previous call's result
;;               (so the fuzzer reaches live handles)
;;   bytes 4-23  a, b, c, d, e: little-endian i32 arguments, in order; the
;;               ttl of kv_put and kv_create is e sign-extended; the timeout
;;               of await and await_any is b & 3 and c & 3 milliseconds.
;;
;; Documented outcome: loads with any guest configuration up to 8 KiB (a
;; longer one is an empty tape). A fetch whose session identifier starts with
;; byte 0x00 is a plain miss and runs nothing; any other fetch runs the tape
;; and returns StatusNotFound; every store runs the tape and returns StatusOK.
;; The host must never panic or touch memory outside the guest, whatever the
;; tape; the call may fail (GuestError) and the pool keeps serving.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "tlsgate" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "tlsgate" "kv_get" (func $kv_get (param i32 i32) (result i32)))
  (import "tlsgate" "kv_put" (func $kv_put (param i32 i32 i32 i32 i64) (result i32)))
  (import "tlsgate" "kv_create" (func $kv_create (param i32 i32 i32 i32 i64) (result i32)))
  (import "tlsgate" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (import "tlsgate" "await" (func $await (param i32 i32) (result i32)))
  (import "tlsgate" "await_any" (func $await_any (param i32 i32 i32) (result i32)))
  (import "tlsgate" "poll" (func $poll (param i32) (result i32)))
  (import "tlsgate" "result" (func $result (param i32 i32 i32) (result i32)))
  (import "tlsgate" "release" (func $release (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))

  (func $benign (result i32)
    (i32.store8 (i32.const 0) (i32.const 0xff))
    (drop (call $input (i32.const 1) (i32.const 0) (i32.const 64)))
    (i32.eqz (i32.load8_u (i32.const 0))))

  ;; $step runs the record at $r and returns the host function's result.
  (func $step (param $r i32) (param $last i32) (result i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
    (local.set $a (i32.load (i32.add (local.get $r) (i32.const 4))))
    (local.set $b (i32.load (i32.add (local.get $r) (i32.const 8))))
    (local.set $c (i32.load (i32.add (local.get $r) (i32.const 12))))
    (local.set $d (i32.load (i32.add (local.get $r) (i32.const 16))))
    (local.set $e (i32.load (i32.add (local.get $r) (i32.const 20))))
    (if (i32.and (i32.load8_u (i32.add (local.get $r) (i32.const 1))) (i32.const 1))
      (then (local.set $a (local.get $last))))
    (block $release (block $result (block $poll (block $await_any (block $await
    (block $kv_delete (block $kv_create (block $kv_put (block $kv_get (block $log
    (block $set_session (block $input
      (br_table $input $set_session $log $kv_get $kv_put $kv_create $kv_delete
                $await $await_any $poll $result $release
        (i32.rem_u (i32.load8_u (local.get $r)) (i32.const 12))))
      (return (call $input (local.get $a) (local.get $b) (local.get $c))))
      (return (call $set_session (local.get $a) (local.get $b))))
      (return (call $log (local.get $a) (local.get $b) (local.get $c))))
      (return (call $kv_get (local.get $a) (local.get $b))))
      (return (call $kv_put (local.get $a) (local.get $b) (local.get $c) (local.get $d)
        (i64.extend_i32_s (local.get $e)))))
      (return (call $kv_create (local.get $a) (local.get $b) (local.get $c) (local.get $d)
        (i64.extend_i32_s (local.get $e)))))
      (return (call $kv_delete (local.get $a) (local.get $b))))
      (return (call $await (local.get $a) (i32.and (local.get $b) (i32.const 3)))))
      (return (call $await_any (local.get $a) (local.get $b) (i32.and (local.get $c) (i32.const 3)))))
      (return (call $poll (local.get $a))))
      (return (call $result (local.get $a) (local.get $b) (local.get $c))))
    (call $release (local.get $a)))

  ;; $run copies the tape to 0x8000 and runs at most 32 records.
  (func $run
    (local $n i32) (local $r i32) (local $end i32) (local $last i32) (local $i i32)
    (local.set $n (call $input (i32.const 9) (i32.const 0x8000) (i32.const 0x2000)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 0x2000)))
      (then (return)))
    (local.set $r (i32.const 0x8000))
    (local.set $end (i32.add (i32.const 0x8000) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $r) (i32.const 24)) (local.get $end)))
        (br_if $done (i32.eq (local.get $i) (i32.const 32)))
        (local.set $last (call $step (local.get $r) (local.get $last)))
        (local.set $r (i32.add (local.get $r) (i32.const 24)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "tlsgate_on_session_fetch") (result i32)
    (if (call $benign) (then (return (i32.const 1))))
    (call $run)
    (i32.const 1))

  (func (export "tlsgate_on_session_store") (result i32)
    (call $run)
    (i32.const 0)))
