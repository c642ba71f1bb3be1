//go:build tlsgate_sessionid

package sessionidtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
)

// sessionCache is an in-memory store behind Config.GetSessionByID and
// Config.StoreSessionByID. It keeps serialized sessions, as a real store
// would, and counts the calls crypto/tls makes.
type sessionCache struct {
	mu       sync.Mutex
	sessions map[string][]byte
	gets     int
	hits     int
	stores   int
	storeErr error // returned by store when set
}

func newSessionCache() *sessionCache {
	return &sessionCache{sessions: make(map[string][]byte)}
}

// install sets the hooks on cfg.
func (c *sessionCache) install(cfg *tls.Config) *tls.Config {
	cfg.GetSessionByID = c.get
	cfg.StoreSessionByID = c.store
	return cfg
}

func (c *sessionCache) get(id []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	data, ok := c.sessions[string(id)]
	if !ok {
		return nil, nil
	}
	c.hits++
	ss, err := tls.ParseSessionState(data)
	if err != nil {
		return nil, fmt.Errorf("sessionidtest: stored session: %w", err)
	}
	return ss, nil
}

func (c *sessionCache) store(id []byte, ss *tls.SessionState, cs tls.ConnectionState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores++
	if c.storeErr != nil {
		return c.storeErr
	}
	if len(id) != 32 {
		return errors.New("sessionidtest: Session ID is not 32 bytes")
	}
	data, err := ss.Bytes()
	if err != nil {
		return err
	}
	c.sessions[string(id)] = data
	return nil
}

// counts returns gets, hits and stores so far.
func (c *sessionCache) counts() (gets, hits, stores int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.hits, c.stores
}

// ids returns the stored Session IDs.
func (c *sessionCache) ids() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids [][]byte
	for id := range c.sessions {
		ids = append(ids, []byte(id))
	}
	return ids
}

// clear forgets every session.
func (c *sessionCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.sessions)
}
