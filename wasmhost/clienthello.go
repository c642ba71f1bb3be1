package wasmhost

import (
	"context"

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
	if err := checkInputs(nil, nil, in.ServerName, in.ClientAddr, in.JA4); err != nil {
		return HelloDecision{}, err
	}
	var d HelloDecision
	err := p.call(ctx, abi.CallClientHello, func(cs *callState) {
		cs.hello, cs.serverName, cs.clientAddr = &in, in.ServerName, in.ClientAddr
	},
		func(cs *callState, status abi.Status) error {
			switch status {
			case abi.StatusOK:
				if cs.routeSet {
					d.Route = cs.route
				}
				return nil
			case abi.StatusAccessDenied:
				d.Refuse = true
				return nil
			}
			return p.statusError(abi.ExportOnClientHello, status, nil)
		})
	return d, err
}
