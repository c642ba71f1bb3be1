package wasmhosttest

import (
	"embed"
	"io/fs"
)

// The guests are hand-written WAT; the compiled .wasm files are committed so
// the kit works without wabt. TestGuestsMatchWAT fails when they drift.
//go:generate wat2wasm -o testdata/bad_handle.wasm testdata/bad_handle.wat
//go:generate wat2wasm -o testdata/bad_import_signature.wasm testdata/bad_import_signature.wat
//go:generate wat2wasm -o testdata/bad_signature.wasm testdata/bad_signature.wat
//go:generate wat2wasm -o testdata/fetch_only.wasm testdata/fetch_only.wat
//go:generate wat2wasm -o testdata/fuzz_hostcalls.wasm testdata/fuzz_hostcalls.wat
//go:generate wat2wasm -o testdata/garbage_session.wasm testdata/garbage_session.wat
//go:generate wat2wasm -o testdata/grow_memory.wasm testdata/grow_memory.wat
//go:generate wat2wasm -o testdata/hook_faults.wasm testdata/hook_faults.wat
//go:generate wat2wasm -o testdata/huge_memory.wasm testdata/huge_memory.wat
//go:generate wat2wasm -o testdata/init_fails.wasm testdata/init_fails.wat
//go:generate wat2wasm -o testdata/leak_handles.wasm testdata/leak_handles.wat
//go:generate wat2wasm -o testdata/loop_fetch.wasm testdata/loop_fetch.wat
//go:generate wat2wasm -o testdata/marker_signature.wasm testdata/marker_signature.wat
//go:generate wat2wasm -o testdata/no_exports.wasm testdata/no_exports.wat
//go:generate wat2wasm -o testdata/no_memory.wasm testdata/no_memory.wat
//go:generate wat2wasm -o testdata/ok_cache.wasm testdata/ok_cache.wat
//go:generate wat2wasm -o testdata/odd_status.wasm testdata/odd_status.wat
//go:generate wat2wasm -o testdata/oversized_session.wasm testdata/oversized_session.wat
//go:generate wat2wasm -o testdata/sandbox.wasm testdata/sandbox.wat
//go:generate wat2wasm -o testdata/store_only.wasm testdata/store_only.wat
//go:generate wat2wasm -o testdata/start_section.wasm testdata/start_section.wat
//go:generate wat2wasm -o testdata/trap.wasm testdata/trap.wat
//go:generate wat2wasm -o testdata/ttl_echo.wasm testdata/ttl_echo.wat
//go:generate wat2wasm -o testdata/unknown_host_func.wasm testdata/unknown_host_func.wat
//go:generate wat2wasm -o testdata/unknown_import.wasm testdata/unknown_import.wat
//go:generate wat2wasm -o testdata/wild_pointers.wasm testdata/wild_pointers.wat
//go:generate wat2wasm -o testdata/wrong_marker.wasm testdata/wrong_marker.wat

//go:embed testdata/*.wasm
var guests embed.FS

// Guests returns the kit's compiled guests, one "<name>.wasm" file per guest
// in testdata/: the reference cache ok_cache.wasm, the fault guests TestHost
// runs and fuzz_hostcalls.wasm. Each guest's .wat source states its
// documented outcome in its header comment.
func Guests() fs.FS {
	sub, err := fs.Sub(guests, "testdata")
	if err != nil {
		panic("wasmhosttest: " + err.Error()) // unreachable: the directory is embedded
	}
	return sub
}

// guest returns the bytes of the named guest, without the .wasm suffix.
func guest(name string) []byte {
	b, err := fs.ReadFile(guests, "testdata/"+name+".wasm")
	if err != nil {
		panic("wasmhosttest: no guest " + name) // a typo in the kit's own tables
	}
	return b
}
