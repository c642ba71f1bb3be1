package natskv

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// nearCache keeps the values this gateway recently wrote to the sessions
// bucket, so a guest's kv_get of a session this gateway stored (a TLS 1.3
// ticket it issued, say) is answered without a NATS round trip. It is
// bounded in bytes (least recently used first out) and every entry expires
// with its key. Every other change to a cached key (a write or delete by
// another gateway, or by anyone with the nats CLI) reaches it through a
// headers-only watch of the bucket's stream: an entry is dropped when the
// stream holds a newer message of its key than the one it was written as.
// Entries are served only while that watch runs; when it stops or the
// connection drops, the cache is emptied. Keys are the full keys of the
// bucket, tenant prefix included.
type nearCache struct {
	max      int64         // bytes
	maxTTL   time.Duration // an entry lives at most this long
	watching atomic.Bool   // the watch of the stream runs: entries may be served

	mu    sync.Mutex
	lru   list.List // of *nearEntry, front: used least recently
	byKey map[string]*list.Element
	bytes int64

	hits, misses, evictions atomic.Uint64
}

type nearEntry struct {
	key     string
	value   []byte
	expires time.Time
	seq     uint64 // the stream sequence it was written as
}

// nearEntryOverhead is what an entry costs above its key and value.
const nearEntryOverhead = 96

// WithNearCache keeps up to maxBytes of the sessions this client wrote in
// memory, each until its key expires or changes in NATS, and answers
// Bucket.Get from it (see nearCache). 0 means none. Default: none.
func WithNearCache(maxBytes int64) ClientOption {
	return func(o *clientOptions) { o.nearBytes = maxBytes }
}

// watchNear starts the near cache's watch of the sessions stream (after
// each bind): headers only, from new messages on; until it runs, and
// whenever it fails, nothing is served from the cache.
func (s *sessions) watchNear(ctx context.Context) {
	c := s.c
	if c.near == nil {
		return
	}
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	if c.nearStop != nil {
		c.nearStop()
		c.nearStop = nil
	}
	c.forgetNear()
	stream, err := c.js.Stream(ctx, "KV_"+SessionsBucket)
	if err == nil {
		var cons jetstream.Consumer
		cons, err = stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"$KV." + SessionsBucket + ".>"},
			DeliverPolicy:  jetstream.DeliverNewPolicy,
			HeadersOnly:    true,
		})
		if err == nil {
			prefix := "$KV." + SessionsBucket + "."
			var cc jetstream.ConsumeContext
			cc, err = cons.Consume(func(m jetstream.Msg) {
				if md, err := m.Metadata(); err == nil {
					c.near.changed(strings.TrimPrefix(m.Subject(), prefix), md.Sequence.Stream)
				}
			}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				c.forgetNear() // events may have been missed
				c.log.Debug("natskv: near cache watch", "err", err)
			}))
			if err == nil {
				c.nearStop = cc.Stop
				c.near.watching.Store(true)
				return
			}
		}
	}
	c.log.Warn("natskv: cannot watch the sessions bucket; the near cache is off until it binds again", "err", err)
}

// forgetNear empties the near cache: changes may have been missed (the
// connection dropped, or the watch failed). It is served again once a
// watch runs.
func (c *Client) forgetNear() {
	if c.near != nil {
		c.near.clear()
	}
}

func newNearCache(maxBytes int64, maxTTL time.Duration) *nearCache {
	return &nearCache{max: maxBytes, maxTTL: maxTTL, byKey: map[string]*list.Element{}}
}

// get returns the value of key if it is cached and not expired.
func (c *nearCache) get(key string, now time.Time) ([]byte, bool) {
	if !c.watching.Load() {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	ent := e.Value.(*nearEntry)
	if !now.Before(ent.expires) {
		c.removeLocked(e)
		c.misses.Add(1)
		return nil, false
	}
	c.lru.MoveToBack(e)
	c.hits.Add(1)
	return ent.value, true
}

// put caches value (which the cache keeps; the caller must not change it),
// written as stream sequence seq, for key until ttl from now (at most
// maxTTL).
func (c *nearCache) put(key string, value []byte, ttl time.Duration, now time.Time, seq uint64) {
	size := int64(len(key) + len(value) + nearEntryOverhead)
	if size > c.max/8 || ttl <= 0 {
		return // one entry may not take more than an eighth of the cache
	}
	ttl = min(ttl, c.maxTTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.removeLocked(e)
	}
	c.byKey[key] = c.lru.PushBack(&nearEntry{key: key, value: value, expires: now.Add(ttl), seq: seq})
	c.bytes += size
	for c.bytes > c.max {
		c.removeLocked(c.lru.Front())
		c.evictions.Add(1)
	}
}

// changed is the watch's news that the stream holds message seq of key:
// a cached value written as another message is out of date.
func (c *nearCache) changed(key string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok && e.Value.(*nearEntry).seq != seq {
		c.removeLocked(e)
	}
}

// drop forgets key.
func (c *nearCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.removeLocked(e)
	}
}

// dropIf forgets key, if there is a cache.
func (c *nearCache) dropIf(key string) {
	if c != nil {
		c.drop(key)
	}
}

// clear forgets everything.
func (c *nearCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.byKey)
	c.bytes = 0
}

func (c *nearCache) removeLocked(e *list.Element) {
	ent := c.lru.Remove(e).(*nearEntry)
	delete(c.byKey, ent.key)
	c.bytes -= int64(len(ent.key) + len(ent.value) + nearEntryOverhead)
}

// NearCacheStats describes the near cache (see WithNearCache).
type NearCacheStats struct {
	Entries                 int
	Bytes                   int64
	Hits, Misses, Evictions uint64
}

// NearCacheStats returns the near cache's figures; zero without one.
func (c *Client) NearCacheStats() NearCacheStats {
	nc := c.near
	if nc == nil {
		return NearCacheStats{}
	}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	return NearCacheStats{Entries: len(nc.byKey), Bytes: nc.bytes, Hits: nc.hits.Load(), Misses: nc.misses.Load(), Evictions: nc.evictions.Load()}
}

// rewatchNear sets the watch up again after a reconnect: what happened
// while the connection was down was not seen.
func (c *Client) rewatchNear() {
	c.sessMu.Lock()
	s := c.sess
	c.sessMu.Unlock()
	if s == nil || s.kv.Load() == nil {
		return // the next bind watches
	}
	ctx, cancel := context.WithTimeout(context.Background(), bindTimeout)
	defer cancel()
	s.watchNear(ctx)
}
