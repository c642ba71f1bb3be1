;; A tenant's certificate guest for the gateway's tests (ABI 1.1), led by
;; the first letter of the SNI: d refuses (ACCESS_DENIED), r names "rsa",
;; u names "unknown" (no such certificate), t traps, s names "rsa" when the
;; client offers no ECDSA signature scheme (0x0403, 0x0503, 0x0603) and
;; "default" when it does; any other returns OK naming none (the gateway's
;; choice). It exports no session hook: the tenant keeps stateless tickets.
(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_certificate" (func $set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "rsa")
  (data (i32.const 520) "unknown")
  (data (i32.const 528) "default")
  (func (export "tlsgate_abi_v1"))
  (func $ecdsa (result i32)
    (local $n i32) (local $i i32) (local $v i32)
    (local.set $n (call $input (i32.const 17) (i32.const 1024) (i32.const 4096)))
    (if (i32.gt_s (local.get $n) (i32.const 4096)) (then (return (i32.const 0))))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_s (i32.add (local.get $i) (i32.const 1)) (local.get $n)))
        (local.set $v (i32.load16_u (i32.add (i32.const 1024) (local.get $i))))
        (if (i32.or (i32.or (i32.eq (local.get $v) (i32.const 0x0403)) (i32.eq (local.get $v) (i32.const 0x0503)))
                    (i32.eq (local.get $v) (i32.const 0x0603)))
          (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $scan)))
    (i32.const 0))
  (func (export "tlsgate_on_certificate") (result i32)
    (local $c i32)
    (if (i32.le_s (call $input (i32.const 5) (i32.const 0) (i32.const 256)) (i32.const 0))
      (then (return (i32.const 0))))
    (local.set $c (i32.load8_u (i32.const 0)))
    (if (i32.eq (local.get $c) (i32.const 100)) (then (return (i32.const 6))))
    (if (i32.eq (local.get $c) (i32.const 116)) (then (unreachable)))
    (if (i32.eq (local.get $c) (i32.const 114))
      (then (return (call $set (i32.const 512) (i32.const 3)))))
    (if (i32.eq (local.get $c) (i32.const 117))
      (then (return (call $set (i32.const 520) (i32.const 7)))))
    (if (i32.eq (local.get $c) (i32.const 115))
      (then
        (if (call $ecdsa) (then (return (call $set (i32.const 528) (i32.const 7)))))
        (return (call $set (i32.const 512) (i32.const 3)))))
    (i32.const 0)))
