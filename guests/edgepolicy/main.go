//go:build wasip1

// Command edgepolicy is tlsgate's reference guest for the ABI 1.1 hooks
// that run before a session is resumed. One module serves two roles:
//
//   - as a listener's client-hello guest (listeners[].client_hello), it
//     refuses ClientHellos by their JA4 fingerprint: those listed in its
//     config, and those with a key "ja4/<fingerprint>" in the listener's
//     key-value namespace, a deny list the operator (or another guest)
//     edits live in NATS;
//   - as a tenant's guest, it picks the certificate by SNI from its config
//     (cert.<server name>=<certificate name>), and otherwise leaves the
//     choice to the gateway (the first certificate the client supports).
//
// Config (key=value fields, as guest.ParseConfig reads them), e.g.
//
//	deny_ja4=t13d1516h2_8daaf6152771_e5627efa2ab1; kv_deny=true
//	cert.legacy.example.com=rsa; cert.*.example.com=wildcard
//
// A KV store that cannot be reached lets the ClientHello through (a deny
// list is a filter, not a gate); build it with go run ./internal/cmd/buildguests.
package main

import (
	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

var cfg config

// Its state is its configuration only.
//
//go:wasmexport tlsgate_shared_instances
func sharedInstances() {}

//go:wasmexport tlsgate_on_init
func onInit() abi.Status {
	var err error
	if cfg, err = parseConfig(guest.GuestConfig()); err != nil {
		guest.Error("edgepolicy: " + err.Error())
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

var key []byte

//go:wasmexport tlsgate_on_client_hello
func onClientHello() abi.Status {
	fp := guest.JA4()
	if cfg.denyJA4[fp] {
		return abi.StatusAccessDenied
	}
	if !cfg.kvDeny {
		return abi.StatusOK
	}
	key = append(append(key[:0], "ja4/"...), fp...)
	switch _, err := guest.KV.Get(key); guest.StatusOf(err) {
	case abi.StatusOK:
		return abi.StatusAccessDenied
	case abi.StatusNotFound:
	default:
		guest.Debug("edgepolicy: deny list: " + err.Error())
	}
	return abi.StatusOK
}

//go:wasmexport tlsgate_on_certificate
func onCertificate() abi.Status {
	if name := cfg.certFor(guest.ServerName()); name != "" {
		if err := guest.SetCertificate(name); err != nil {
			return guest.StatusOf(err)
		}
	}
	return abi.StatusOK
}

func main() {}
