package wasmhost

import (
	"context"
	"fmt"

	"github.com/tlsgate/tlsgate/abi"
)

// ClientHelloInput is what a client-hello call carries (abi ExportOnClientHello):
// the ClientHello as crypto/tls parsed it, lists in the client's order.
type ClientHelloInput struct {
	ServerName        string
	ClientAddr        string
	ALPN              []string
	SupportedVersions []uint16
	CipherSuites      []uint16
	SupportedGroups   []uint16
	SignatureSchemes  []uint16
	Extensions        []uint16
	JA4               string
}

// check enforces abi.MaxInputLen on every input, encoded, and the ALPN
// wire format (each protocol 1 to 255 bytes), which crypto/tls enforces on
// what clients send.
func (in *ClientHelloInput) check() error {
	if err := checkInputs(nil, nil, in.ServerName, in.ClientAddr, in.JA4); err != nil {
		return err
	}
	n := 0
	for _, p := range in.ALPN {
		if len(p) < 1 || len(p) > 255 {
			return fmt.Errorf("wasmhost: ALPN protocol of %d bytes: %w", len(p), ErrInputTooLarge)
		}
		n += 1 + len(p)
	}
	for _, l := range [][]uint16{in.SupportedVersions, in.CipherSuites, in.SupportedGroups, in.SignatureSchemes, in.Extensions} {
		n = max(n, 2*len(l))
	}
	if n > abi.MaxInputLen {
		return fmt.Errorf("wasmhost: client hello input of %d bytes: %w", n, ErrInputTooLarge)
	}
	return nil
}

// HelloDecision is what a client-hello guest decided.
type HelloDecision struct {
	// Refuse: the guest returned StatusAccessDenied; the handshake is to
	// be refused.
	Refuse bool
	// Route is the tenant the guest named with set_route ("" when it named
	// none: route by SNI).
	Route string
}

// ClientHello runs the guest's tlsgate_on_client_hello. A guest error (a
// status other than OK and ACCESS_DENIED, a trap, a timeout) is returned
// as for Fetch; the caller then goes on as if there were no hook.
func (p *Pool) ClientHello(ctx context.Context, in ClientHelloInput) (HelloDecision, error) {
	var d HelloDecision
	err := p.call(ctx, abi.CallClientHello, in.check, func(cs *callState) {
		cs.hello, cs.serverName, cs.clientAddr = &in, in.ServerName, in.ClientAddr
	}, p.decisionOutcome(abi.ExportOnClientHello, &d.Route, &d.Refuse))
	return d, err
}
