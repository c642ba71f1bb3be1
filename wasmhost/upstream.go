package wasmhost

import (
	"context"
	"time"

	"github.com/tlsgate/tlsgate/abi"
)

// UpstreamFetch asks the guest's tlsgate_on_upstream_session_fetch for a
// session with upstream ("host:port"). It returns the sealed session the
// guest handed back, ErrMiss on StatusNotFound, or an error as for Fetch.
func (p *Pool) UpstreamFetch(ctx context.Context, upstream string) ([]byte, error) {
	var session []byte
	err := p.call(ctx, abi.CallUpstreamFetch, func() error { return checkInputs(nil, nil, upstream) },
		func(cs *callState) { cs.upstream = upstream }, p.fetchOutcome(abi.ExportOnUpstreamSessionFetch, &session))
	return session, err
}

// UpstreamStore hands the guest's tlsgate_on_upstream_session_store a
// sealed session with upstream, to keep for ttl. It returns nil on
// StatusOK, else an error as for Store.
func (p *Pool) UpstreamStore(ctx context.Context, upstream string, sealed []byte, ttl time.Duration) error {
	return p.call(ctx, abi.CallUpstreamStore, func() error {
		if err := checkTTL(ttl); err != nil {
			return err
		}
		return checkInputs(nil, sealed, upstream)
	},
		func(cs *callState) { cs.upstream, cs.sealed, cs.ttl = upstream, sealed, ttl },
		func(cs *callState, status abi.Status) error {
			if status == abi.StatusOK {
				return nil
			}
			return p.statusError(abi.ExportOnUpstreamSessionStore, status, nil)
		})
}
