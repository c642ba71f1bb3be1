package wasmhost

import (
	"bytes"
	"errors"
	"fmt"
)

// importKind is the kind byte of a Wasm import descriptor.
type importKind byte

const (
	importFunc   importKind = 0x00
	importTable  importKind = 0x01
	importMemory importKind = 0x02
	importGlobal importKind = 0x03
	importTag    importKind = 0x04
)

func (k importKind) String() string {
	switch k {
	case importFunc:
		return "function"
	case importTable:
		return "table"
	case importMemory:
		return "memory"
	case importGlobal:
		return "global"
	case importTag:
		return "tag"
	}
	return fmt.Sprintf("kind 0x%02x", byte(k))
}

type wasmImport struct {
	module, name string
	kind         importKind
}

var errTruncated = errors.New("truncated")

// wasmReader reads the binary format's primitive encodings.
type wasmReader struct {
	b []byte
}

func (r *wasmReader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errTruncated
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

// uleb reads an unsigned LEB128 of at most 64 bits.
func (r *wasmReader) uleb() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("LEB128 overflow")
}

func (r *wasmReader) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)) {
		return nil, errTruncated
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b, nil
}

func (r *wasmReader) name() (string, error) {
	n, err := r.uleb()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	return string(b), err
}

func (r *wasmReader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.uleb(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.uleb()
	}
	return err
}

// parseImports lists the imports of a Wasm binary. It is called after wazero
// accepted the module, so it only needs to walk the sections, not validate.
func parseImports(wasm []byte) ([]wasmImport, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a Wasm binary")
	}
	r := wasmReader{b: wasm[8:]}
	for len(r.b) > 0 {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.uleb()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(size)
		if err != nil {
			return nil, err
		}
		if id == 2 {
			return parseImportSection(body)
		}
	}
	return nil, nil
}

func parseImportSection(body []byte) ([]wasmImport, error) {
	r := wasmReader{b: body}
	n, err := r.uleb()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(body)) {
		return nil, errTruncated
	}
	out := make([]wasmImport, 0, n)
	for i := uint64(0); i < n; i++ {
		var im wasmImport
		if im.module, err = r.name(); err != nil {
			return nil, err
		}
		if im.name, err = r.name(); err != nil {
			return nil, err
		}
		k, err := r.byte()
		if err != nil {
			return nil, err
		}
		im.kind = importKind(k)
		switch im.kind {
		case importFunc:
			_, err = r.uleb()
		case importTable:
			if _, err = r.byte(); err == nil { // reftype
				err = r.limits()
			}
		case importMemory:
			err = r.limits()
		case importGlobal:
			if _, err = r.byte(); err == nil { // valtype
				_, err = r.byte() // mutability
			}
		case importTag:
			if _, err = r.byte(); err == nil { // attribute
				_, err = r.uleb()
			}
		default:
			return nil, fmt.Errorf("import %d: unknown kind 0x%02x", i, k)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}
