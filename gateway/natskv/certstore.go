package natskv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/nats-io/nats.go/jetstream"
)

// certStoragePrefix leads every key of the ACME certificate storage in
// CertsBucket (a version, so the layout can change).
const certStoragePrefix = "acme.v1."

// Sealer seals what CertStorage keeps that must not reach NATS in clear
// (private keys), bound to its key, and opens it again.
type Sealer interface {
	Seal(plain []byte, key string) []byte
	Open(blob []byte, key string) ([]byte, error)
}

// CertStorage is a certmagic.Storage (with its Locker) in the fleet's
// certificate bucket (CertsBucket, beside the registry's certificates),
// so that one gateway obtains a certificate and every other gateway of the
// fleet uses it. Keys are certmagic's paths, each
// segment base64url-encoded under certStoragePrefix; values ending in
// ".key" (private keys, certificates' and ACME accounts') are sealed by the
// Sealer. Locks are entries that a holder renews while it holds them: a
// gateway that dies mid-issuance stops renewing, and once a waiter has
// seen the entry unchanged for LockLease it takes the lock over.
type CertStorage struct {
	kv    jetstream.KeyValue
	seal  Sealer
	owner string
	lease time.Duration

	mu   sync.Mutex
	held map[string]*heldLock
	seen map[string]seenLock // others' locks this storage waits on
}

// seenLock is another holder's lock entry as a waiter first saw it: if
// its revision is the same a whole lease later, by the waiter's own clock,
// its holder stopped renewing. No two clocks are compared.
type seenLock struct {
	rev   uint64
	since time.Time
}

// LockLease is how long a lock outlives its holder's last renewal; holders
// renew at a third of it.
const LockLease = 10 * time.Second

var _ certmagic.Storage = (*CertStorage)(nil)

// NewCertStorage returns the storage over kv (CertsBucket, see CertsKV), sealing private keys with seal; owner names this gateway in the
// locks it holds (for operators reading them).
func NewCertStorage(kv jetstream.KeyValue, seal Sealer, owner string, lease time.Duration) *CertStorage {
	if lease <= 0 {
		lease = LockLease
	}
	return &CertStorage{kv: kv, seal: seal, owner: owner, lease: lease, held: map[string]*heldLock{}, seen: map[string]seenLock{}}
}

// CertsKV returns the fleet's certificate bucket, creating it when create
// is set (the embedding gateway and deployers may; a gateway's role may not).
func (c *Client) CertsKV(ctx context.Context, create bool) (jetstream.KeyValue, error) {
	return c.registry(ctx, CertsBucket, create)
}

// natsKey encodes a certmagic key ("a/b/c.crt") as a bucket key.
func natsKey(key string) string {
	segs := strings.Split(strings.Trim(key, "/"), "/")
	for i, s := range segs {
		segs[i] = base64.RawURLEncoding.EncodeToString([]byte(s))
	}
	return certStoragePrefix + strings.Join(segs, ".")
}

// certKey decodes a bucket key back to the certmagic key, or "" for a key
// that is not one of this storage's.
func storageKey(nk string) string {
	rest, ok := strings.CutPrefix(nk, certStoragePrefix)
	if !ok {
		return ""
	}
	segs := strings.Split(rest, ".")
	for i, s := range segs {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return ""
		}
		segs[i] = string(b)
	}
	return strings.Join(segs, "/")
}

func sealed(key string) bool { return strings.HasSuffix(key, ".key") }

// Store implements certmagic.Storage.
func (s *CertStorage) Store(ctx context.Context, key string, value []byte) error {
	if sealed(key) {
		value = s.seal.Seal(value, key)
	}
	if _, err := s.kv.Put(ctx, natsKey(key), value); err != nil {
		return fmt.Errorf("natskv: certificate storage: store %s: %w", key, err)
	}
	return nil
}

// Load implements certmagic.Storage; a missing key is fs.ErrNotExist.
func (s *CertStorage) Load(ctx context.Context, key string) ([]byte, error) {
	e, err := s.kv.Get(ctx, natsKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("natskv: certificate storage: %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("natskv: certificate storage: load %s: %w", key, err)
	}
	v := e.Value()
	if sealed(key) {
		if v, err = s.seal.Open(v, key); err != nil {
			return nil, fmt.Errorf("natskv: certificate storage: %s does not open with the sealing keys: %w", key, err)
		}
	}
	return v, nil
}

// keys lists this storage's keys (certmagic paths) under prefix ("" for
// all): the server filters them by subject, so asking about one
// certificate's directory does not list the whole store.
func (s *CertStorage) keys(ctx context.Context, prefix string) ([]string, error) {
	filter := certStoragePrefix + ">"
	if prefix != "" {
		filter = natsKey(prefix) + ".>"
	}
	lister, err := s.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, err
	}
	var out []string
	for nk := range lister.Keys() {
		if k := storageKey(nk); k != "" {
			out = append(out, k)
		}
	}
	if prefix != "" {
		if _, err := s.kv.Get(ctx, natsKey(prefix)); err == nil {
			out = append(out, prefix)
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete implements certmagic.Storage: a key, or every key under a
// directory; a missing one is fs.ErrNotExist.
func (s *CertStorage) Delete(ctx context.Context, key string) error {
	key = strings.Trim(key, "/")
	keys, err := s.keys(ctx, key)
	if err != nil {
		return fmt.Errorf("natskv: certificate storage: delete %s: %w", key, err)
	}
	if len(keys) == 0 {
		return fmt.Errorf("natskv: certificate storage: %s: %w", key, fs.ErrNotExist)
	}
	for _, k := range keys {
		if err := s.kv.Delete(ctx, natsKey(k)); err != nil {
			return fmt.Errorf("natskv: certificate storage: delete %s: %w", k, err)
		}
	}
	return nil
}

// Exists implements certmagic.Storage: a key or a directory.
func (s *CertStorage) Exists(ctx context.Context, key string) bool {
	key = strings.Trim(key, "/")
	if key != "" {
		if _, err := s.kv.Get(ctx, natsKey(key)); err == nil {
			return true // a key: one read, the common case (a certificate's files)
		}
	}
	keys, err := s.keys(ctx, key)
	return err == nil && len(keys) > 0
}

// List implements certmagic.Storage: the keys under path, or with
// recursive unset its direct children (keys and directories).
func (s *CertStorage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	path = strings.Trim(path, "/")
	keys, err := s.keys(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("natskv: certificate storage: list %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("natskv: certificate storage: %s: %w", path, fs.ErrNotExist)
	}
	if recursive {
		return keys, nil
	}
	var out []string
	for _, k := range keys {
		rest := strings.TrimPrefix(strings.TrimPrefix(k, path), "/")
		child, _, _ := strings.Cut(rest, "/")
		if path != "" {
			child = path + "/" + child
		}
		if len(out) == 0 || out[len(out)-1] != child {
			out = append(out, child)
		}
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *CertStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = strings.Trim(key, "/")
	e, err := s.kv.Get(ctx, natsKey(key))
	if err == nil {
		size := len(e.Value())
		return certmagic.KeyInfo{Key: key, Modified: e.Created(), Size: int64(size), IsTerminal: true}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return certmagic.KeyInfo{}, fmt.Errorf("natskv: certificate storage: stat %s: %w", key, err)
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("natskv: certificate storage: %s: %w", key, fs.ErrNotExist)
}

// lockEntry is what a lock's entry holds.
type lockEntry struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// heldLock is a lock this storage holds, and the renewal that keeps it.
type heldLock struct {
	key  string
	rev  uint64
	stop chan struct{}
	done chan struct{}
}

func lockKey(name string) string { return natsKey("locks/" + name) }

// Lock implements certmagic.Locker: it takes the named lock, waiting while
// another holder renews it, and taking it over once its lease has run out
// (its holder died or lost NATS).
func (s *CertStorage) Lock(ctx context.Context, name string) error {
	key := lockKey(name)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		rev, err := s.tryLock(ctx, key)
		if err != nil {
			return fmt.Errorf("natskv: certificate storage: lock %s: %w", name, err)
		}
		if rev != 0 {
			h := &heldLock{key: key, rev: rev, stop: make(chan struct{}), done: make(chan struct{})}
			s.mu.Lock()
			s.held[name] = h
			s.mu.Unlock()
			go s.renew(h)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natskv: certificate storage: lock %s: %w", name, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// tryLock takes the lock at key if it is free or its lease ran out, and
// returns the entry's revision, or 0 if another holder has it.
func (s *CertStorage) tryLock(ctx context.Context, key string) (uint64, error) {
	val, _ := json.Marshal(lockEntry{Owner: s.owner, Expires: time.Now().Add(s.lease)})
	rev, err := s.kv.Create(ctx, key, val)
	if err == nil {
		s.mu.Lock()
		delete(s.seen, key)
		s.mu.Unlock()
		return rev, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, err
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil // released meanwhile: the next try creates it
	}
	if err != nil {
		return 0, err
	}
	// The holder renews its entry every third of the lease; one whose
	// revision has not changed for a whole lease, as this gateway's clock
	// measures it, is stale. (The entry's expiry is for operators: it was
	// written by another machine's clock.)
	s.mu.Lock()
	sl, ok := s.seen[key]
	if !ok || sl.rev != e.Revision() {
		s.seen[key] = seenLock{rev: e.Revision(), since: time.Now()}
		s.mu.Unlock()
		return 0, nil
	}
	s.mu.Unlock()
	if time.Since(sl.since) < s.lease {
		return 0, nil
	}
	// Stale: take it over, unless another gateway did first.
	rev, err = s.kv.Update(ctx, key, val, e.Revision())
	if err != nil {
		return 0, nil
	}
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
	return rev, nil
}

// renew extends h's lease at a third of it until Unlock stops it; a renewal
// that fails (the lock was taken over after a long NATS outage) stops.
func (s *CertStorage) renew(h *heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		val, _ := json.Marshal(lockEntry{Owner: s.owner, Expires: time.Now().Add(s.lease)})
		ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
		rev, err := s.kv.Update(ctx, h.key, val, h.rev)
		cancel()
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
				return // no longer ours
			}
			continue // NATS is away: try again while the lease lasts
		}
		s.mu.Lock()
		h.rev = rev
		s.mu.Unlock()
	}
}

// Unlock implements certmagic.Locker: it releases a lock this storage
// holds (only if it is still this holder's).
func (s *CertStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("natskv: certificate storage: unlock %s: not held here", name)
	}
	close(h.stop)
	<-h.done
	s.mu.Lock()
	rev := h.rev
	s.mu.Unlock()
	if err := s.kv.Delete(ctx, h.key, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
			return nil // taken over after its lease ran out: not ours to delete
		}
		return fmt.Errorf("natskv: certificate storage: unlock %s: %w", name, err)
	}
	return nil
}
