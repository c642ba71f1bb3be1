//go:build wasip1

package guest

import "unsafe"

// The raw host functions of ABI v1, module "tlsgate". Signatures are in
// package abi (hostfuncs.go); pointers are offsets in this module's memory.

//go:wasmimport tlsgate input
func hostInput(kind uint32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport tlsgate set_session
func hostSetSession(ptr unsafe.Pointer, n int32) uint32

//go:wasmimport tlsgate log
func hostLog(level int32, ptr unsafe.Pointer, n int32) uint32

//go:wasmimport tlsgate kv_get
func hostKVGet(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport tlsgate kv_put
func hostKVPut(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32, ttlMillis int64) int32

//go:wasmimport tlsgate kv_create
func hostKVCreate(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32, ttlMillis int64) int32

//go:wasmimport tlsgate kv_delete
func hostKVDelete(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport tlsgate await
func hostAwait(handle int32, timeoutMillis int32) uint32

//go:wasmimport tlsgate await_any
func hostAwaitAny(handles unsafe.Pointer, n int32, timeoutMillis int32) int32

//go:wasmimport tlsgate poll
func hostPoll(handle int32) uint32

//go:wasmimport tlsgate result
func hostResult(handle int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport tlsgate release
func hostRelease(handle int32) uint32

//go:wasmimport tlsgate set_route
func hostSetRoute(ptr unsafe.Pointer, n int32) uint32

//go:wasmimport tlsgate set_certificate
func hostSetCertificate(ptr unsafe.Pointer, n int32) uint32
