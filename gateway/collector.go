package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// stateCollector reports gauges read at scrape time from the serving
// snapshot and the NATS client, so they can never drift from the truth.
type stateCollector struct {
	g         *Gateway
	instances *prometheus.Desc
	waiting   *prometheus.Desc
	nats      *prometheus.Desc
	kvUp      *prometheus.Desc
	trips     *prometheus.Desc
	guestMem  *prometheus.Desc
	shared    *prometheus.Desc
	nearOps   *prometheus.Desc
	nearSize  *prometheus.Desc
	expiry    *prometheus.Desc
}

func newStateCollector(g *Gateway) *stateCollector {
	return &stateCollector{
		g: g,
		instances: prometheus.NewDesc("tlsgate_guest_instances",
			"Guest instances now, by tenant and state (idle: waiting for a call; in_use: running one); the states partition them, so their sum is the instances alive.",
			[]string{"tenant", "state"}, nil),
		waiting: prometheus.NewDesc("tlsgate_guest_pool_waiters",
			"Calls waiting for a guest instance because the pool is at its maximum.", []string{"tenant"}, nil),
		nats: prometheus.NewDesc("tlsgate_nats_connected",
			"1 while the NATS client is connected, 0 while it is not (handshakes are then full).", nil, nil),
		kvUp: prometheus.NewDesc("tlsgate_kv_available",
			"1 while key-value operations are sent to NATS: connected and the breaker closed; 0 while fetches are skipped.", nil, nil),
		guestMem: prometheus.NewDesc("tlsgate_guest_memory_bytes",
			"Linear memory of all live guest instances together (bounded by wasm.memory_budget_mb).", nil, nil),
		shared: prometheus.NewDesc("tlsgate_guest_shared_idle_instances",
			"Idle guest instances that any tenant of the module (with the same guest config) may use, by module; only for guests that export tlsgate_shared_instances. Instances in use are counted in tlsgate_guest_instances of the tenant using them.",
			[]string{"module"}, nil),
		nearOps: prometheus.NewDesc("tlsgate_kv_near_cache_total",
			"Guest key-value reads answered from the near cache (result hit), sent to NATS (miss), and entries evicted to stay within nats.near_cache_mb (evicted).",
			[]string{"result"}, nil),
		nearSize: prometheus.NewDesc("tlsgate_kv_near_cache_bytes",
			"Bytes of sessions held by the near cache.", nil, nil),
		expiry: prometheus.NewDesc("tlsgate_certificate_expiry_timestamp_seconds",
			"When each certificate a tenant serves stops being valid (its NotAfter), in Unix seconds, by tenant and certificate name; a registry tenant's once it has been loaded.",
			[]string{"tenant", "name"}, nil),
		trips: prometheus.NewDesc("tlsgate_kv_breaker_trips_total",
			"Times NATS stopped answering key-value operations while connected (the breaker opened).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.instances
	ch <- c.waiting
	ch <- c.nats
	ch <- c.kvUp
	ch <- c.trips
	ch <- c.guestMem
	ch <- c.shared
	ch <- c.nearOps
	ch <- c.nearSize
	ch <- c.expiry
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if s := c.g.snap.Load(); s != nil {
		for _, t := range s.list {
			c.certificates(ch, t)
			if t.pool == nil {
				continue
			}
			st := t.pool.Stats()
			if st.Live == 0 && st.Waiting == 0 {
				continue // a quiet tenant: 10,000 of them would be 40,000 zero series per scrape
			}
			ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(st.Idle), t.name, "idle")
			ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(st.InUse), t.name, "in_use")
			ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(st.Waiting), t.name)
		}
	}
	for module, n := range c.g.modules.sharedIdle() {
		ch <- prometheus.MustNewConstMetric(c.shared, prometheus.GaugeValue, float64(n), module)
	}
	if c.g.rt != nil {
		ch <- prometheus.MustNewConstMetric(c.guestMem, prometheus.GaugeValue, float64(c.g.rt.GuestMemory()))
	}
	if c.g.kv != nil {
		v := 0.0
		if c.g.kv.Connected() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.nats, prometheus.GaugeValue, v)
		up := 0.0
		if c.g.kv.Available() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.kvUp, prometheus.GaugeValue, up)
		ch <- prometheus.MustNewConstMetric(c.trips, prometheus.CounterValue, float64(c.g.kv.BreakerTrips()))
		if st := c.g.kv.NearCacheStats(); c.g.snap.Load().cfg.NATS.NearCacheMB > 0 {
			ch <- prometheus.MustNewConstMetric(c.nearOps, prometheus.CounterValue, float64(st.Hits), "hit")
			ch <- prometheus.MustNewConstMetric(c.nearOps, prometheus.CounterValue, float64(st.Misses), "miss")
			ch <- prometheus.MustNewConstMetric(c.nearOps, prometheus.CounterValue, float64(st.Evictions), "evicted")
			ch <- prometheus.MustNewConstMetric(c.nearSize, prometheus.GaugeValue, float64(st.Bytes))
		}
	}
}

// certificates reports when each certificate t serves expires.
func (c *stateCollector) certificates(ch chan<- prometheus.Metric, t *tenant) {
	for _, lc := range t.certs {
		if lc.cert.Leaf != nil {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(lc.cert.Leaf.NotAfter.Unix()), t.name, lc.name)
		}
	}
	if t.acme != nil {
		if m := c.g.acmeNow(); m != nil {
			// The earliest end over the tenant's exact names, each at its
			// latest certificate (a renewed one replaces the old).
			var end time.Time
			for _, n := range t.cfg.ServerNames {
				var latest time.Time
				for _, cert := range m.cache.AllMatchingCertificates(n) {
					if cert.Leaf != nil && cert.Leaf.NotAfter.After(latest) {
						latest = cert.Leaf.NotAfter
					}
				}
				if !latest.IsZero() && (end.IsZero() || latest.Before(end)) {
					end = latest
				}
			}
			if !end.IsZero() {
				ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(end.Unix()), t.name, config.DefaultCertificateName)
			}
		}
	}
	if t.regCert != nil {
		if certs := t.regCert.certs.Load(); certs != nil && len(*certs) > 0 && (*certs)[0].Leaf != nil {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64((*certs)[0].Leaf.NotAfter.Unix()), t.name, config.DefaultCertificateName)
		}
	}
}

var _ prometheus.Collector = (*stateCollector)(nil)
