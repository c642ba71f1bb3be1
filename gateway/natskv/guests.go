package natskv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// GuestBucket is the JetStream object store bucket that holds guest modules
// deployed fleet-wide: every gateway joined to the same NATS reads a tenant's
// "nats:<name>" module from it, and reloads when the object changes.
const GuestBucket = "tlsgate_guests"

// ErrGuestNotFound is returned when GuestBucket holds no module of that name.
var ErrGuestNotFound = errors.New("natskv: guest module not found")

var guestNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateGuestName reports whether name can name a deployed guest module:
// 1-64 of [A-Za-z0-9._-].
func ValidateGuestName(name string) error {
	if !guestNameRE.MatchString(name) {
		return fmt.Errorf("natskv: guest module name %q must be 1-64 of [A-Za-z0-9._-]", name)
	}
	return nil
}

// GuestInfo describes a deployed guest module.
type GuestInfo struct {
	Name     string
	Size     uint64
	Digest   string // as NATS reports it, "SHA-256=..."
	Modified time.Time
	Deleted  bool
}

func guestInfo(oi *jetstream.ObjectInfo) GuestInfo {
	return GuestInfo{Name: oi.Name, Size: oi.Size, Digest: oi.Digest, Modified: oi.ModTime, Deleted: oi.Deleted}
}

// errNoGuestBucket is guests' answer to a reader when nothing was ever
// deployed: the bucket does not exist yet.
var errNoGuestBucket = errors.New("natskv: no guest module deployed yet: bucket " + GuestBucket + " does not exist")

// guests opens the guest object store. Only a deployer (create) creates it,
// with the server's defaults and only if it does not exist, so an
// operator's settings for it, such as replicas, are never rewritten;
// gateways only read it, and a gateway's NATS user may not create it.
func (c *Client) guests(ctx context.Context, create bool) (jetstream.ObjectStore, error) {
	if !c.Connected() {
		return nil, fmt.Errorf("natskv: guest modules: %w", wasmhost.ErrUnavailable)
	}
	os, err := c.js.ObjectStore(ctx, GuestBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) && !create {
		return nil, errNoGuestBucket
	}
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		os, err = c.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      GuestBucket,
			Description: "tlsgate guest modules (tlsgate guest push)",
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another gateway won the race
			os, err = c.js.ObjectStore(ctx, GuestBucket)
		}
	}
	if err != nil {
		return nil, guestErr(ctx, "guest modules", err)
	}
	return os, nil
}

// guestErr wraps err, marking NATS being unreachable with
// wasmhost.ErrUnavailable and leaving ctx's own end as is.
func guestErr(ctx context.Context, op string, err error) error {
	if ctx.Err() == nil && (unreachable(err) || streamGone(err)) {
		return fmt.Errorf("natskv: %s: %w: %w", op, wasmhost.ErrUnavailable, err)
	}
	return fmt.Errorf("natskv: %s: %w", op, err)
}

// GuestModule returns the deployed module name. Errors: ErrGuestNotFound,
// wasmhost.ErrUnavailable when NATS cannot be reached.
func (c *Client) GuestModule(ctx context.Context, name string) ([]byte, error) {
	if err := ValidateGuestName(name); err != nil {
		return nil, err
	}
	os, err := c.guests(ctx, false)
	if errors.Is(err, errNoGuestBucket) {
		return nil, fmt.Errorf("%w: %q (nothing deployed yet)", ErrGuestNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	b, err := os.GetBytes(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, fmt.Errorf("%w: %q in %s", ErrGuestNotFound, name, GuestBucket)
	case err != nil:
		return nil, guestErr(ctx, fmt.Sprintf("guest module %q", name), err)
	}
	return b, nil
}

// PutGuestModule deploys wasm as the module name, replacing any earlier
// version; gateways watching the bucket reload the tenants that use it. It
// does not check the module: tlsgate guest push does, before calling it.
func (c *Client) PutGuestModule(ctx context.Context, name string, wasm []byte) (GuestInfo, error) {
	if err := ValidateGuestName(name); err != nil {
		return GuestInfo{}, err
	}
	ctx, stop := c.untilDenied(ctx)
	defer stop()
	os, err := c.guests(ctx, true)
	if err == nil {
		var oi *jetstream.ObjectInfo
		if oi, err = os.PutBytes(ctx, name, wasm); err == nil {
			return guestInfo(oi), nil
		}
	}
	if d := denial(ctx); d != nil {
		return GuestInfo{}, fmt.Errorf("natskv: put guest module %q: this NATS user may not deploy guests (use a deployer's credentials): %w", name, d)
	}
	return GuestInfo{}, guestErr(ctx, fmt.Sprintf("put guest module %q", name), err)
}

// GuestModules lists the deployed modules.
func (c *Client) GuestModules(ctx context.Context) ([]GuestInfo, error) {
	os, err := c.guests(ctx, false)
	if errors.Is(err, errNoGuestBucket) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, guestErr(ctx, "list guest modules", err)
	}
	out := make([]GuestInfo, 0, len(list))
	for _, oi := range list {
		out = append(out, guestInfo(oi))
	}
	return out, nil
}

// WatchGuestModules calls fn for every deployed module as it is when the
// watch starts, then for every change to one (put or delete), until ctx is
// done or the watch ends (the stream or the connection went away): a module
// pushed while the watch was being set up is never missed, and fn compares
// what it is told with what it holds (GuestInfo.Digest). It returns once the watch is set up, with a
// channel closed when the watch has ended, so the caller can set it up
// again; fn runs on a goroutine of the watch, one change at a time. Until
// the first module is deployed the bucket does not exist, and the watch
// cannot be set up (an error); the caller retries.
func (c *Client) WatchGuestModules(ctx context.Context, fn func(GuestInfo)) (<-chan struct{}, error) {
	os, err := c.guests(ctx, false)
	if err != nil {
		return nil, err
	}
	w, err := os.Watch(ctx)
	if err != nil {
		return nil, guestErr(ctx, "watch guest modules", err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer func() {
			w.Stop()
			for range w.Updates() { // unblock nats.go's delivery until Stop closes it
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case oi, ok := <-w.Updates():
				if !ok {
					return
				}
				if oi != nil {
					fn(guestInfo(oi))
				}
			}
		}
	}()
	return ended, nil
}
