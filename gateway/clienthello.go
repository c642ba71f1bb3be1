package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/internal/ja4"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// helloGuest is a listener's client-hello guest (config.ListenerGuest):
// one module and pool, shared by the snapshots whose configuration gives
// that listener the same guest, and closed with the last of them.
type helloGuest struct {
	key      string // what makes it the same guest: module digest, configuration, bounds
	deadline time.Duration
	mod      *wasmhost.Module
	pool     *wasmhost.Pool
	refs     atomic.Int32
}

// errRefused is what crypto/tls gets when a client-hello guest refuses a
// handshake: the client receives an alert.
var errRefused = errors.New("gateway: handshake refused by the listener's client-hello guest")

// buildHello returns listener i's client-hello guest: old's when it is the
// same guest (one more reference), else a new one; nil when it has none.
func (g *Gateway) buildHello(ctx context.Context, cfg *config.Config, l config.Listener, i int, old *snapshot, sources moduleSources) (*helloGuest, error) {
	hc := l.ClientHello
	if hc == nil {
		return nil, nil
	}
	path := fmt.Sprintf("listeners[%d].client_hello", i)
	src, err := sources.get(ctx, g, hc.Module)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s.module: %w", path, err)
	}
	key := src.digest + "\x00" + hc.Config + "\x00" + hc.Deadline.String() + "\x00" + strconv.Itoa(hc.MaxInstances)
	if old != nil && i < len(old.hellos) {
		if h := old.hellos[i]; h != nil && h.key == key {
			h.refs.Add(1)
			return h, nil
		}
	}
	m, err := g.rt.Compile(ctx, src.name, src.wasm)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s.module: %w", path, err)
	}
	if !m.Has(abi.CallClientHello) {
		_ = m.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("gateway: %s.module: %q: %w: does not export %s", path, src.name, wasmhost.ErrInvalidModule, abi.ExportOnClientHello)
	}
	var kv wasmhost.KV
	if g.kv != nil {
		b, err := g.kv.ListenerBucket(ctx, config.ListenerName(l.Address), natskv.WithStorage(cfg.NATS.Storage),
			natskv.WithReplicas(cfg.NATS.Replicas), natskv.WithQuota(listenerKVBytes, listenerKVEntries))
		if err != nil {
			_ = m.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("gateway: %s: key-value namespace: %w", path, err)
		}
		kv = b
	}
	p, err := wasmhost.NewPool(ctx, m,
		wasmhost.WithKV(kv),
		wasmhost.WithTenant("listeners["+strconv.Itoa(i)+"]"), // its name in metrics and logs; the guest is not told it
		wasmhost.WithGuestConfig([]byte(hc.Config)),
		wasmhost.WithMaxInstances(hc.MaxInstances),
		wasmhost.WithCallTimeout(hc.Deadline),
		wasmhost.WithPoolLogger(g.log.With("listener", l.Address)),
		wasmhost.WithObserver(g.metrics))
	if err != nil {
		_ = m.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	h := &helloGuest{key: key, deadline: hc.Deadline, mod: m, pool: p}
	h.refs.Store(1)
	return h, nil
}

// A listener guest's namespace holds at most this much (its deny lists,
// counters), counted like a tenant's quota.
const (
	listenerKVBytes   = 64 << 20
	listenerKVEntries = 1 << 20
)

// release drops one snapshot's reference, closing the guest with the last.
func (h *helloGuest) release(ctx context.Context) error {
	if h == nil || h.refs.Add(-1) > 0 {
		return nil
	}
	return errors.Join(h.pool.Close(ctx), h.mod.Close(ctx))
}

// clientHello runs the listener's guest on hello. It returns the tenant to
// serve (nil: route by SNI) or errRefused. A guest error is the behaviour
// without the hook: logged, counted, routed by SNI.
//
// With again, a call that found the guest's pool closed (a reload retired
// it meanwhile) returns wasmhost.ErrPoolClosed, for the caller to ask the
// snapshot's new guest; without, that too routes by SNI.
func (l *listener) clientHello(h *helloGuest, snap *snapshot, hello *tls.ClientHelloInfo, again bool) (*tenant, error) {
	// The pool's call timeout is the guest's deadline: no timer here.
	d, err := h.pool.ClientHello(hello.Context(), helloInput(hello))
	switch {
	case again && errors.Is(err, wasmhost.ErrPoolClosed):
		return nil, err
	case err != nil:
		l.g.metrics.clientHello.WithLabelValues(l.name, "error").Inc()
		l.g.log.Debug("client-hello guest failed: routing by SNI", "listener", l.name, "err", err)
		return nil, nil
	case d.Refuse:
		l.g.metrics.clientHello.WithLabelValues(l.name, "refused").Inc()
		return nil, errRefused
	case d.Route != "":
		if t := snap.routers[l.idx].byName(d.Route); t != nil {
			l.g.metrics.clientHello.WithLabelValues(l.name, "routed").Inc()
			return t, nil
		}
		l.g.metrics.clientHello.WithLabelValues(l.name, "unknown_route").Inc()
		return nil, nil
	}
	l.g.metrics.clientHello.WithLabelValues(l.name, "continue").Inc()
	return nil, nil
}

// helloOf is listener idx's client-hello guest in snap, or nil.
func helloOf(snap *snapshot, idx int) *helloGuest {
	if idx < len(snap.hellos) {
		return snap.hellos[idx]
	}
	return nil
}

// helloInput is what a client-hello or certificate guest reads of hello,
// made once per connection (a listener's and a tenant's guest may both
// read it).
func helloInput(hello *tls.ClientHelloInfo) wasmhost.ClientHelloInput {
	raw, _ := hello.Conn.(*trackedConn)
	if raw != nil && raw.hello != nil {
		return *raw.hello
	}
	fp := ja4.FromClientHello(hello)
	in := wasmhost.ClientHelloInput{
		ServerName:        hello.ServerName,
		ClientAddr:        hello.Conn.RemoteAddr().String(),
		ALPN:              hello.SupportedProtos,
		SupportedVersions: fp.Versions,
		CipherSuites:      hello.CipherSuites,
		SignatureSchemes:  fp.SignatureAlgorithms,
		Extensions:        hello.Extensions,
		JA4:               fp.Fingerprint(),
		SupportedGroups:   make([]uint16, len(hello.SupportedCurves)),
	}
	for i, c := range hello.SupportedCurves {
		in.SupportedGroups[i] = uint16(c)
	}
	if raw != nil {
		raw.hello = &in
	}
	return in
}
