package gateway

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// guestWatch reloads the configuration in force when a guest module that a
// tenant takes from the NATS object store ("nats:<name>") changes, so a
// `tlsgate guest push` reaches every gateway of the fleet. A module that
// does not load is refused like any bad reload: the previous one keeps
// serving. Changes arriving together are coalesced into one reload.
type guestWatch struct {
	g       *Gateway
	once    sync.Once
	pending chan struct{}
}

// guestWatchDebounce coalesces a burst of pushes into one reload.
const guestWatchDebounce = 200 * time.Millisecond

func usesNATSModules(s *snapshot) bool {
	for _, t := range s.list {
		if t.cfg.Guest != nil && strings.HasPrefix(t.cfg.Guest.Module, config.NATSModulePrefix) {
			return true
		}
	}
	return false
}

// ensure starts watching once some snapshot's tenant (of the file or the
// registry) uses deployed modules. It retries in the background while
// NATS cannot be reached.
func (w *guestWatch) ensure(s *snapshot) {
	if !usesNATSModules(s) {
		return
	}
	w.once.Do(func() {
		w.pending = make(chan struct{}, 1)
		go w.watch()
		go w.reloader()
	})
}

// watch keeps a watch on the deployed modules for the gateway's lifetime:
// set up, and set up again whenever it ends, retrying while NATS cannot be
// reached.
func (w *guestWatch) watch() {
	g := w.g
	missed := false // a change may have been missed while there was no watch
	for {
		ended, err := g.kv.WatchGuestModules(g.ctx, w.changed)
		if err == nil {
			g.log.Info("watching deployed guest modules", "bucket", natskv.GuestBucket)
			if missed {
				w.poke()
			}
			missed = true
			select {
			case <-g.ctx.Done():
				return
			case <-ended:
				g.log.Warn("the watch on deployed guest modules ended; setting it up again")
			}
		} else {
			g.log.Warn("cannot watch deployed guest modules yet; retrying", "err", err)
			missed = true
		}
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// changed is told of a deployed module as the watch starts, and of every
// change: it asks for a reload when a tenant uses that module and holds
// other bytes than NATS now does (or NATS deleted it).
func (w *guestWatch) changed(info natskv.GuestInfo) {
	module := config.NATSModulePrefix + info.Name
	for _, t := range w.g.snap.Load().list {
		if t.cfg.Guest != nil && t.cfg.Guest.Module == module && (info.Deleted || t.module == nil || natsDigest(t.module.digest) != info.Digest) {
			w.g.log.Info("deployed guest module changed", "module", module, "size", info.Size, "deleted", info.Deleted)
			w.poke()
			return
		}
	}
}

// poke asks the reloader for one reload of the configuration in force.
func (w *guestWatch) poke() {
	select {
	case w.pending <- struct{}{}:
	default:
	}
}

func (w *guestWatch) reloader() {
	w.g.reloadOnPoke(w.pending, guestWatchDebounce, "deployed guest module refused: the previous one keeps serving", "")
}

// reloadOnPoke reloads the configuration in force debounce after each poke
// of pending (the pokes meanwhile coalesced into that reload), for the
// gateway's lifetime, logging refused when a reload is refused and ok (if
// not empty) when one succeeds.
func (g *Gateway) reloadOnPoke(pending chan struct{}, debounce time.Duration, refused, ok string) {
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-pending:
		}
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(debounce):
		}
		select { // what came during the wait belongs to this reload
		case <-pending:
		default:
		}
		ctx, cancel := context.WithTimeout(g.ctx, time.Minute)
		err := g.reloadCurrent(ctx)
		cancel()
		switch {
		case err != nil:
			g.log.Error(refused, "err", err)
		case ok != "":
			g.log.Info(ok)
		}
	}
}

// natsDigest is a moduleDigest (SHA-256 in hex) as NATS's object store
// writes digests: "SHA-256=" and base64url with padding.
func natsDigest(hexDigest string) string {
	b, err := hex.DecodeString(hexDigest)
	if err != nil {
		return ""
	}
	return "SHA-256=" + base64.URLEncoding.EncodeToString(b)
}
