;; hook_faults.wat: the ABI 1.1 hooks (client hello, certificate, upstream
;; session fetch and store), each led by its guest configuration's first
;; byte: "T" traps, "L" loops forever, "S" returns BAD_ARGUMENT (2), "W"
;; calls its hook's output function (set_route, set_certificate,
;; set_session) with a pointer past the end of memory then returns OK (the
;; upstream store, which has none, reads an input there), anything else
;; returns NOT_FOUND from the upstream fetch and OK from the others.
;;
;; Documented outcome: loads; "T" fails every hook with a trap GuestError,
;; "L" with a timeout, "S" with a status GuestError, "W" with a misuse
;; GuestError (INVALID_MEMORY), the instance discarded each time; otherwise
;; the client hello and certificate calls decide nothing (no route, no
;; certificate, no refusal), the upstream fetch is a miss and the upstream
;; store succeeds; the same loaded guest serves again after each fault.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (import "tlsgate" "set_route" (func $set_route (param i32 i32) (result i32)))
  (import "tlsgate" "set_certificate" (func $set_certificate (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  ;; $mode reads the first byte of the guest configuration (0 if none).
  (func $mode (result i32)
    (i32.store8 (i32.const 0) (i32.const 0))
    (drop (call $input (i32.const 9) (i32.const 0) (i32.const 1)))
    (i32.load8_u (i32.const 0)))
  ;; $common runs the modes shared by every hook; it returns only for "W"
  ;; (1) and for the plain mode (0).
  (func $common (result i32)
    (local $m i32)
    (local.set $m (call $mode))
    (if (i32.eq (local.get $m) (i32.const 84)) (then (unreachable)))
    (if (i32.eq (local.get $m) (i32.const 76)) (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $m) (i32.const 83)) (then (return (i32.const 2))))
    (i32.eq (local.get $m) (i32.const 87)))
  (func (export "tlsgate_on_client_hello") (result i32)
    (local $c i32)
    (local.set $c (call $common))
    (if (i32.eq (local.get $c) (i32.const 2)) (then (return (i32.const 2))))
    (if (local.get $c) (then (drop (call $set_route (i32.const 65530) (i32.const 16)))))
    (i32.const 0))
  (func (export "tlsgate_on_certificate") (result i32)
    (local $c i32)
    (local.set $c (call $common))
    (if (i32.eq (local.get $c) (i32.const 2)) (then (return (i32.const 2))))
    (if (local.get $c) (then (drop (call $set_certificate (i32.const 65530) (i32.const 16)))))
    (i32.const 0))
  (func (export "tlsgate_on_upstream_session_fetch") (result i32)
    (local $c i32)
    (local.set $c (call $common))
    (if (i32.eq (local.get $c) (i32.const 2)) (then (return (i32.const 2))))
    (if (local.get $c) (then (drop (call $set_session (i32.const 65530) (i32.const 16))) (return (i32.const 0))))
    (i32.const 1))
  (func (export "tlsgate_on_upstream_session_store") (result i32)
    (local $c i32)
    (local.set $c (call $common))
    (if (i32.eq (local.get $c) (i32.const 2)) (then (return (i32.const 2))))
    (if (local.get $c) (then (drop (call $input (i32.const 21) (i32.const 65530) (i32.const 16)))))
    (i32.const 0)))
