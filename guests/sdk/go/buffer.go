package guest

import (
	"unsafe"

	"github.com/tlsgate/tlsgate/abi"
)

// scratch is the first buffer every (buf, limit) -> len call gets; results
// that fit are copied out of it, larger ones get a buffer of their exact
// length. A wasip1 module runs one goroutine at a time and host calls never
// yield, so one scratch buffer is enough.
var scratch [512]byte

// maxGrow bounds the retries of readGrowing: a value that changes length
// between calls (it cannot, for inputs and completed results) ends the loop.
const maxGrow = 4

// readGrowing runs the ABI's (buf, limit) -> len protocol: call writes at
// most limit bytes at buf and returns the full length, or a negated status.
// It returns a fresh copy of the value (nil for an empty one).
func readGrowing(call func(buf unsafe.Pointer, limit int32) int32) ([]byte, abi.Status) {
	n := call(unsafe.Pointer(&scratch[0]), int32(len(scratch)))
	if n < 0 {
		return nil, abi.StatusFromNeg(n)
	}
	if int(n) <= len(scratch) {
		if n == 0 {
			return nil, abi.StatusOK
		}
		return append([]byte(nil), scratch[:n]...), abi.StatusOK
	}
	for range maxGrow {
		buf := make([]byte, n)
		m := call(unsafe.Pointer(&buf[0]), n)
		if m < 0 {
			return nil, abi.StatusFromNeg(m)
		}
		if m <= n {
			return buf[:m], abi.StatusOK
		}
		n = m
	}
	return nil, abi.StatusInternal
}

// ptr returns the address of b's first byte, or nil for an empty slice, as
// the ABI's (ptr, len) pair expects.
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// appendGrowing runs the (buf, limit) -> len protocol into dst's spare
// capacity and returns dst with the value appended. When the value fits, as
// it does once a guest reuses its buffers, nothing is allocated: a heap
// allocation costs a Go guest on the order of a microsecond.
func appendGrowing(dst []byte, call func(buf unsafe.Pointer, limit int32) int32) ([]byte, abi.Status) {
	if len(dst) == cap(dst) {
		// No room at all (Get's nil buffer): one call through the scratch
		// buffer usually does, instead of one to learn the length.
		v, s := readGrowing(call)
		return append(dst, v...), s
	}
	for range maxGrow {
		spare := dst[len(dst):cap(dst)]
		var p unsafe.Pointer
		if len(spare) > 0 {
			p = unsafe.Pointer(&spare[:1][0])
		}
		n := call(p, int32(min(len(spare), 1<<30)))
		if n < 0 {
			return dst, abi.StatusFromNeg(n)
		}
		if int(n) <= len(spare) {
			return dst[:len(dst)+int(n)], abi.StatusOK
		}
		grown := make([]byte, len(dst), len(dst)+int(n))
		copy(grown, dst)
		dst = grown
	}
	return dst, abi.StatusInternal
}
