package wasmhost

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
)

// funcSig is a Wasm function type.
type funcSig struct {
	params, results []api.ValueType
}

func sigOf(def api.FunctionDefinition) funcSig {
	return funcSig{params: def.ParamTypes(), results: def.ResultTypes()}
}

func (s funcSig) equal(o funcSig) bool {
	return slices.Equal(s.params, o.params) && slices.Equal(s.results, o.results)
}

func (s funcSig) String() string {
	names := func(ts []api.ValueType) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return names(s.params) + " -> " + names(s.results)
}

var (
	sigVoid   = funcSig{}
	sigStatus = funcSig{results: []api.ValueType{api.ValueTypeI32}}
)

// validated is what validate learnt about a module.
type validated struct {
	hasInitialize, shared bool
	hooks                 hookSet // the hooks it exports
}

// hookSet says which of abi.Hooks a module exports, by CallKind.
type hookSet [len(abi.Hooks)]bool

// validate checks a compiled module against ABI v1: marker, hooks and their
// signatures, exported memory, and imports limited to the tlsgate host
// module and WASI functions (no imported memory, table, global or tag).
func validate(name string, wasm []byte, c wazero.CompiledModule, wasi map[string]funcSig) (validated, error) {
	var v validated
	bad := func(format string, args ...any) (validated, error) {
		return v, &invalidModuleError{module: name, msg: fmt.Sprintf(format, args...)}
	}

	// Imports other than functions: parsed from the binary, since wazero
	// reports only functions and memories.
	imports, err := parseImports(wasm)
	if err != nil {
		return v, &invalidModuleError{module: name, msg: "read import section", err: err}
	}
	for _, im := range imports {
		if im.kind != importFunc {
			return bad("imports %s %q.%q: only functions may be imported", im.kind, im.module, im.name)
		}
	}
	for _, def := range c.ImportedFunctions() {
		mod, fn, _ := def.Import()
		got := sigOf(def)
		var want funcSig
		var ok bool
		switch mod {
		case abi.HostModule:
			want, ok = hostFuncSigs[fn]
		case abi.WASIModule:
			want, ok = wasi[fn]
		}
		if !ok {
			return bad("imports unknown function %q.%q", mod, fn)
		}
		if !got.equal(want) {
			return bad("imports %q.%q with signature %s, want %s", mod, fn, got, want)
		}
	}

	exports := c.ExportedFunctions()
	checkExport := func(export string, want funcSig, required bool) (bool, error) {
		def, ok := exports[export]
		if !ok {
			if required {
				return false, &invalidModuleError{module: name, msg: fmt.Sprintf("does not export %q (the ABI v1 marker)", export)}
			}
			return false, nil
		}
		if got := sigOf(def); !got.equal(want) {
			return false, &invalidModuleError{module: name, msg: fmt.Sprintf("exports %q with signature %s, want %s", export, got, want)}
		}
		return true, nil
	}
	if _, err := checkExport(abi.ExportMarker, sigVoid, true); err != nil {
		return v, err
	}
	if v.hasInitialize, err = checkExport(abi.ExportInitialize, sigVoid, false); err != nil {
		return v, err
	}
	if v.shared, err = checkExport(abi.ExportSharedInstances, sigVoid, false); err != nil {
		return v, err
	}
	var required []string
	anyRequired := false
	for i := range abi.Hooks {
		h := &abi.Hooks[i]
		if h.Export == "" {
			continue
		}
		if v.hooks[h.Call], err = checkExport(h.Export, sigStatus, false); err != nil {
			return v, err
		}
		if !h.Optional {
			required = append(required, h.Export)
			anyRequired = anyRequired || v.hooks[h.Call]
		}
	}
	if !anyRequired {
		return bad("exports none of the hooks %q", required)
	}
	if _, ok := c.ExportedMemories()[abi.ExportMemory]; !ok {
		return bad("does not export its memory as %q", abi.ExportMemory)
	}
	return v, nil
}
