//go:build !wasip1

package guest

import (
	"unsafe"

	"github.com/tlsgate/tlsgate/abi"
)

// Outside wasip1 there is no host: every function reports UNIMPLEMENTED so
// that the package builds, vets and documents on any platform.

const unimplemented = int32(abi.StatusUnimplemented)

func hostInput(uint32, unsafe.Pointer, int32) int32 { return -unimplemented }
func hostSetSession(unsafe.Pointer, int32) uint32   { return uint32(unimplemented) }
func hostLog(int32, unsafe.Pointer, int32) uint32   { return uint32(unimplemented) }
func hostKVGet(unsafe.Pointer, int32) int32         { return -unimplemented }
func hostKVPut(unsafe.Pointer, int32, unsafe.Pointer, int32, int64) int32 {
	return -unimplemented
}
func hostKVCreate(unsafe.Pointer, int32, unsafe.Pointer, int32, int64) int32 {
	return -unimplemented
}
func hostKVDelete(unsafe.Pointer, int32) int32        { return -unimplemented }
func hostAwait(int32, int32) uint32                   { return uint32(unimplemented) }
func hostAwaitAny(unsafe.Pointer, int32, int32) int32 { return -unimplemented }
func hostPoll(int32) uint32                           { return uint32(unimplemented) }
func hostResult(int32, unsafe.Pointer, int32) int32   { return -unimplemented }
func hostRelease(int32) uint32                        { return uint32(unimplemented) }
func hostSetRoute(unsafe.Pointer, int32) uint32       { return uint32(unimplemented) }
func hostSetCertificate(unsafe.Pointer, int32) uint32 { return uint32(unimplemented) }
