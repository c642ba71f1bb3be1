package abi

// Hook is one guest export the host calls, described as data: the host
// validates modules and dispatches every hook from Hooks through one call
// path, and docs/abi.md's section 6 table states the same inputs (a test
// compares them). A hook's export has type () -> i32 and returns a Status.
//
// Adding a hook: a row here (and a CallKind), its typed wrapper in the
// host, the gateway's call site, and the spec.
type Hook struct {
	// Export is the export's name.
	Export string
	// Call is what InputCall reads while it runs.
	Call CallKind
	// Name is the hook's column in docs/abi.md's input table.
	Name string
	// Inputs are the inputs FuncInput returns in this call; any other kind
	// it knows returns -StatusNotFound.
	Inputs []InputKind
	// Outputs are the host functions that hand a result back in this call;
	// elsewhere they return StatusBadArgument.
	Outputs []string
	// KV says whether the key-value functions may be used; if not they
	// return -StatusAccessDenied.
	KV bool
	// Optional hooks may be left out of a module; of the others, a module
	// exports at least one.
	Optional bool
}

// Hooks are the hooks of this ABI version, indexed by their CallKind. (The
// lists are literals, so that a guest importing this package and not using
// Hooks links none of it.)
var Hooks = [...]Hook{
	CallInit: {
		Export: ExportOnInit, Call: CallInit, Name: "init",
		Inputs: []InputKind{InputTenant, InputGuestConfig, InputCall},
		KV:     true, Optional: true,
	},
	CallFetch: {
		Export: ExportOnSessionFetch, Call: CallFetch, Name: "fetch",
		Inputs: []InputKind{InputTenant, InputGuestConfig, InputCall,
			InputSessionID, InputServerName, InputALPN, InputTLSVersion, InputClientAddr, InputMechanism},
		Outputs: []string{FuncSetSession},
		KV:      true,
	},
	CallStore: {
		Export: ExportOnSessionStore, Call: CallStore, Name: "store",
		Inputs: []InputKind{InputTenant, InputGuestConfig, InputCall,
			InputSessionID, InputServerName, InputALPN, InputTLSVersion, InputClientAddr, InputMechanism,
			InputSession, InputTTL, InputSessionCreated},
		KV: true,
	},
	CallClientHello: {
		Export: ExportOnClientHello, Call: CallClientHello, Name: "client_hello",
		// No InputTenant: it runs before a tenant is chosen.
		Inputs: []InputKind{InputGuestConfig, InputCall,
			InputServerName, InputClientAddr, InputALPNOffered, InputSupportedVersions, InputCipherSuites,
			InputSupportedGroups, InputSignatureSchemes, InputExtensions, InputJA4},
		Outputs: []string{FuncSetRoute},
		KV:      true,
	},
	CallCertificate: {
		Export: ExportOnCertificate, Call: CallCertificate, Name: "certificate",
		Inputs: []InputKind{InputTenant, InputGuestConfig, InputCall,
			InputServerName, InputClientAddr, InputALPNOffered, InputSupportedVersions, InputCipherSuites,
			InputSupportedGroups, InputSignatureSchemes, InputExtensions, InputJA4, InputCertificates},
		Outputs: []string{FuncSetCertificate},
		KV:      true,
	},
	CallUpstreamFetch: {
		Export: ExportOnUpstreamSessionFetch, Call: CallUpstreamFetch, Name: "upstream_fetch",
		Inputs:  []InputKind{InputTenant, InputGuestConfig, InputCall, InputUpstream},
		Outputs: []string{FuncSetSession},
		KV:      true,
	},
	CallUpstreamStore: {
		Export: ExportOnUpstreamSessionStore, Call: CallUpstreamStore, Name: "upstream_store",
		Inputs: []InputKind{InputTenant, InputGuestConfig, InputCall, InputUpstream, InputSession, InputTTL},
		KV:     true,
	},
}

// HookFor returns the hook that runs as call kind k, or nil.
func HookFor(k CallKind) *Hook {
	if k == 0 || k >= CallKind(len(Hooks)) {
		return nil
	}
	return &Hooks[k]
}

// Carries reports whether FuncInput returns input kind k in this hook.
func (h *Hook) Carries(k InputKind) bool {
	for _, in := range h.Inputs {
		if in == k {
			return true
		}
	}
	return false
}

// Sets reports whether host function fn hands a result back in this hook.
func (h *Hook) Sets(fn string) bool {
	for _, out := range h.Outputs {
		if out == fn {
			return true
		}
	}
	return false
}
