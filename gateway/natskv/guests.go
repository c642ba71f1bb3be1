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

// guests opens (creating it if needed) the guest object store.
func (c *Client) guests(ctx context.Context) (jetstream.ObjectStore, error) {
	if !c.Connected() {
		return nil, fmt.Errorf("natskv: guest modules: %w", wasmhost.ErrUnavailable)
	}
	os, err := c.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      GuestBucket,
		Description: "tlsgate guest modules (tlsgate guest push)",
	})
	if err != nil {
		// Another server may own the bucket with other settings: use it.
		if os, err2 := c.js.ObjectStore(ctx, GuestBucket); err2 == nil {
			return os, nil
		}
		return nil, fmt.Errorf("natskv: guest modules: %w: %w", wasmhost.ErrUnavailable, err)
	}
	return os, nil
}

// GuestModule returns the deployed module name. Errors: ErrGuestNotFound,
// wasmhost.ErrUnavailable when NATS cannot be reached.
func (c *Client) GuestModule(ctx context.Context, name string) ([]byte, error) {
	if err := ValidateGuestName(name); err != nil {
		return nil, err
	}
	os, err := c.guests(ctx)
	if err != nil {
		return nil, err
	}
	b, err := os.GetBytes(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, fmt.Errorf("%w: %q in %s", ErrGuestNotFound, name, GuestBucket)
	case err != nil:
		return nil, fmt.Errorf("natskv: guest module %q: %w", name, err)
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
	os, err := c.guests(ctx)
	if err != nil {
		return GuestInfo{}, err
	}
	oi, err := os.PutBytes(ctx, name, wasm)
	if err != nil {
		return GuestInfo{}, fmt.Errorf("natskv: put guest module %q: %w", name, err)
	}
	return guestInfo(oi), nil
}

// GuestModules lists the deployed modules.
func (c *Client) GuestModules(ctx context.Context) ([]GuestInfo, error) {
	os, err := c.guests(ctx)
	if err != nil {
		return nil, err
	}
	list, err := os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natskv: list guest modules: %w", err)
	}
	out := make([]GuestInfo, 0, len(list))
	for _, oi := range list {
		out = append(out, guestInfo(oi))
	}
	return out, nil
}

// WatchGuestModules calls fn for every change to a deployed module (put or
// delete) from now on, until ctx is done. It returns once the watch is set
// up; fn runs on a goroutine of the watch, one change at a time.
func (c *Client) WatchGuestModules(ctx context.Context, fn func(GuestInfo)) error {
	os, err := c.guests(ctx)
	if err != nil {
		return err
	}
	w, err := os.Watch(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("natskv: watch guest modules: %w", err)
	}
	go func() {
		defer w.Stop()
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
	return nil
}
