package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tlsgate/tlsgate/abi"
)

// FetchInput is what a fetch call tells the guest (see abi.InputKind).
type FetchInput struct {
	SessionID  []byte        // the identifier the client presented
	ServerName string        // SNI, may be empty
	ALPN       string        // negotiated or offered protocol, may be empty
	ClientAddr string        // "ip:port"
	TLSVersion uint16        // 0x0303 or 0x0304
	Mechanism  abi.Mechanism // how the client presented the identifier
}

// StoreInput is what a store call tells the guest (see abi.InputKind).
type StoreInput struct {
	SessionID  []byte        // the identifier the client will present
	Session    []byte        // the sealed session to keep (at most abi.MaxSessionLen)
	TTL        time.Duration // how long to keep it
	Created    time.Time     // when the session was first created
	ServerName string
	ALPN       string
	ClientAddr string
	TLSVersion uint16
	Mechanism  abi.Mechanism
}

var errOKWithoutSession = errors.New("returned OK without calling set_session")

// Fetch asks the guest for the sealed session stored under in.SessionID.
//
// A hit returns the bytes the guest passed to set_session (a copy owned by
// the caller). A miss (the export returned StatusNotFound) returns ErrMiss.
// Any other outcome is an error: ErrNoExport, ErrInputTooLarge,
// ErrInvalidInput (an identifier outside 1 to abi.MaxSessionIDLen bytes),
// ErrPoolClosed, a context error (ctx done before the call, or while
// waiting for an instance: not the guest's fault), or a
// *GuestError: Kind FaultStatus for another status (StatusOK without
// set_session included), FaultTimeout, FaultTrap, FaultMemory or
// FaultMisuse (the instance is then discarded).
func (p *Pool) Fetch(ctx context.Context, in FetchInput) ([]byte, error) {
	var session []byte
	err := p.call(ctx, abi.CallFetch, func() error {
		if err := checkSessionID(in.SessionID); err != nil {
			return err
		}
		return checkInputs(in.SessionID, nil, in.ServerName, in.ALPN, in.ClientAddr)
	}, func(cs *callState) {
		cs.sessionID, cs.serverName, cs.alpn, cs.clientAddr = in.SessionID, in.ServerName, in.ALPN, in.ClientAddr
		cs.tlsVersion, cs.mechanism = in.TLSVersion, in.Mechanism
	}, p.fetchOutcome(abi.ExportOnSessionFetch, &session))
	return session, err
}

// fetchOutcome reads a fetch-like hook's result (a fetch, an upstream
// fetch): the session set_session handed back into *session, ErrMiss for
// StatusNotFound, else a status GuestError.
func (p *Pool) fetchOutcome(export string, session *[]byte) func(cs *callState, status abi.Status) error {
	return func(cs *callState, status abi.Status) error {
		switch {
		case status == abi.StatusOK && cs.sessionSet:
			*session = cs.session
			return nil
		case status == abi.StatusNotFound:
			return ErrMiss
		case status == abi.StatusOK:
			return p.statusError(export, status, errOKWithoutSession)
		}
		return p.statusError(export, status, nil)
	}
}

// decisionOutcome reads a deciding hook's result (client hello,
// certificate): StatusOK with the name its output function set, if any,
// into *name; StatusAccessDenied sets *refuse; else a status GuestError.
func (p *Pool) decisionOutcome(export string, name *string, refuse *bool) func(cs *callState, status abi.Status) error {
	return func(cs *callState, status abi.Status) error {
		switch status {
		case abi.StatusOK:
			if cs.nameSet {
				*name = cs.name
			}
			return nil
		case abi.StatusAccessDenied:
			*refuse = true
			return nil
		}
		return p.statusError(export, status, nil)
	}
}

// Store hands a new sealed session to the guest. It returns nil when the
// export returned StatusOK, else an error as for Fetch (a status other than
// StatusOK, StatusNotFound included, is a *GuestError of Kind FaultStatus).
func (p *Pool) Store(ctx context.Context, in StoreInput) error {
	return p.call(ctx, abi.CallStore, func() error {
		if err := checkSessionID(in.SessionID); err != nil {
			return err
		}
		if err := checkTTL(in.TTL); err != nil {
			return err
		}
		return checkInputs(in.SessionID, in.Session, in.ServerName, in.ALPN, in.ClientAddr)
	}, func(cs *callState) {
		cs.sessionID, cs.sealed, cs.ttl, cs.created = in.SessionID, in.Session, in.TTL, in.Created
		cs.serverName, cs.alpn, cs.clientAddr = in.ServerName, in.ALPN, in.ClientAddr
		cs.tlsVersion, cs.mechanism = in.TLSVersion, in.Mechanism
	}, func(_ *callState, status abi.Status) error {
		if status != abi.StatusOK {
			return p.statusError(abi.ExportOnSessionStore, status, nil)
		}
		return nil
	})
}

// call is the one call path of every hook but init. The CPU budget and the
// hook's fault breaker admit it; check refuses inputs the ABI bounds; an
// instance runs the export with the call state filled by fill; outcome
// turns the status the export returned into the call's result, reading the
// call's outputs before the instance goes back; the breaker and the
// observer learn how it ended. The typed wrappers (Fetch, Store,
// ClientHello) are check, fill and outcome.
func (p *Pool) call(ctx context.Context, kind abi.CallKind, check func() error, fill func(cs *callState), outcome func(cs *callState, status abi.Status) error) error {
	h := abi.HookFor(kind)
	if err := ctx.Err(); err != nil {
		// The caller gave up before the call: nothing runs, and nothing
		// counts for or against the guest.
		return fmt.Errorf("wasmhost: tenant %q module %q: %s: %w", p.tenant, p.m.name, h.Export, err)
	}
	start := time.Now()
	if err := p.overCPU(h.Export); err != nil {
		p.obs.CallDone(p.tenant, h.Export, 0, err)
		return err
	}
	s := &p.suspend[kind]
	ok, probe := s.admit(start)
	if !ok {
		err := fmt.Errorf("wasmhost: tenant %q module %q: %s: %w", p.tenant, p.m.name, h.Export, ErrSuspended)
		p.obs.CallDone(p.tenant, h.Export, 0, err)
		return err
	}
	ran, err := p.run(ctx, h, check, fill, outcome)
	p.afterCall(s, h.Export, ran, err, probe)
	p.obs.CallDone(p.tenant, h.Export, time.Since(start), err)
	return err
}

// afterCall tells an export's fault breaker how a call it admitted ended.
// A call that never reached the guest (no instance free before the caller's
// deadline, the memory budget spent) says nothing about the guest: it
// neither counts as a fault nor clears the faults before it, or a busy pool
// would keep a guest that faults on every call it runs from ever being
// suspended.
func (p *Pool) afterCall(s *suspender, export string, ran bool, err error, probe bool) {
	fault := isFault(err) // a fault in instantiation ran the guest's start code
	if !ran && !fault {
		s.skip(probe)
		return
	}
	if d := s.done(fault, probe, time.Now()); d > 0 {
		p.logger.Warn("guest export suspended after repeated faults: no calls to it, until a probe call succeeds",
			"export", export, "for", d, "last_err", err)
		p.obs.GuestSuspended(p.tenant, d)
	}
}

// run takes an instance and runs hook h on it; ran reports whether the
// guest's hook was entered.
func (p *Pool) run(ctx context.Context, h *abi.Hook, check func() error, fill func(cs *callState), outcome func(cs *callState, status abi.Status) error) (ran bool, err error) {
	if !p.m.Has(h.Call) {
		return false, fmt.Errorf("wasmhost: module %q: %s: %w", p.m.name, h.Export, ErrNoExport)
	}
	if err := check(); err != nil {
		return false, err
	}
	inst, err := p.acquire(ctx)
	if err != nil {
		return false, err
	}
	cs := &inst.cs
	cs.reset(h.Call)
	fill(cs)
	status, gerr := inst.run(ctx, p, inst.fns[h.Call], h.Export, p.callTimeout)
	p.spendCPU(cs.busy)
	if gerr == nil {
		err = outcome(cs, status)
	}
	cs.reset(0) // drop references to the caller's inputs
	if gerr != nil {
		p.release(inst, string(gerr.Kind))
		return true, gerr
	}
	p.release(inst, "")
	return true, err
}

func (p *Pool) statusError(export string, status abi.Status, err error) error {
	if err == nil {
		err = fmt.Errorf("returned %v", status)
	}
	return &GuestError{Tenant: p.tenant, Module: p.m.name, Export: export, Kind: FaultStatus, Status: status, Err: err}
}

// checkSessionID refuses identifiers the ABI does not define (docs/abi.md
// section 6): a guest may rely on 1 to abi.MaxSessionIDLen bytes.
func checkSessionID(id []byte) error {
	if len(id) < 1 || len(id) > abi.MaxSessionIDLen {
		return fmt.Errorf("wasmhost: session identifier of %d bytes, want 1 to %d: %w", len(id), abi.MaxSessionIDLen, ErrInvalidInput)
	}
	return nil
}

// checkTTL refuses a store of a session with no lifetime left: the TTL
// input is at least 1 ms, as a TTL of 0 would mean the namespace's default
// lifetime to kv_put, longer instead of shorter.
func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("wasmhost: store with TTL %s: %w", ttl, ErrInvalidInput)
	}
	return nil
}

// ttlMillis is the TTL input: ttl in milliseconds, rounded up, so that a
// lifetime under a millisecond reads 1 and never 0.
func ttlMillis(ttl time.Duration) uint64 {
	if ttl <= 0 {
		return 0
	}
	ms := uint64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++ // rounding up by adding first would overflow near the largest Duration
	}
	return ms
}

// checkInputs enforces abi.MaxInputLen (abi.MaxSessionLen for the session).
func checkInputs(sessionID, session []byte, strs ...string) error {
	if len(sessionID) > abi.MaxInputLen {
		return fmt.Errorf("wasmhost: session id of %d bytes: %w", len(sessionID), ErrInputTooLarge)
	}
	if len(session) > abi.MaxSessionLen {
		return fmt.Errorf("wasmhost: session of %d bytes: %w", len(session), ErrInputTooLarge)
	}
	for _, s := range strs {
		if len(s) > abi.MaxInputLen {
			return fmt.Errorf("wasmhost: input of %d bytes: %w", len(s), ErrInputTooLarge)
		}
	}
	return nil
}
