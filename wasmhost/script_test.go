package wasmhost_test

import (
	"encoding/binary"
)

// Script ops of testdata/host/script.wat.
const (
	opInput      = 1
	opSetSession = 2
	opLog        = 3
	opKVGet      = 4
	opKVPut      = 5
	opKVCreate   = 6
	opKVDelete   = 7
	opAwait      = 8
	opAwaitAny   = 9
	opPoll       = 10
	opResult     = 11
	opRelease    = 12
	opStore32    = 13
	opReturn     = 14
	opTrap       = 15
	opLoop       = 16
	opGrow       = 17
	opGrowAll    = 18
)

const (
	scriptDataAddr = 0x10800   // guest address of script data
	scriptMemSize  = 3 * 65536 // script.wat's memory
	scratchAddr    = 0x8000    // free guest memory for outputs
)

// script builds the guest config of script.wat.
type script struct {
	steps [][6]int32
	data  []byte
}

// ref stands for the result of step i.
func ref(i int) int32 { return 0x7E000000 | int32(i) }

// op appends a step and returns its index.
func (s *script) op(op int32, args ...int32) int {
	var st [6]int32
	st[0] = op
	copy(st[1:], args)
	s.steps = append(s.steps, st)
	return len(s.steps) - 1
}

// put stores b in the script's data and returns its guest address.
func (s *script) put(b []byte) int32 {
	addr := scriptDataAddr + int32(len(s.data))
	s.data = append(s.data, b...)
	return addr
}

func (s *script) config() []byte {
	out := make([]byte, 0x800+len(s.data))
	binary.LittleEndian.PutUint32(out, uint32(len(s.steps)))
	for i, st := range s.steps {
		for j, w := range st {
			binary.LittleEndian.PutUint32(out[4+24*i+4*j:], uint32(w))
		}
	}
	if 4+24*len(s.steps) > 0x800 {
		panic("script too long")
	}
	copy(out[0x800:], s.data)
	return out
}

// results decodes the fetch hook's step results.
func results(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
