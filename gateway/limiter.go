package gateway

import (
	"net"
	"net/netip"
	"sync"
)

// refusal says why an addrLimiter refused; "" means it did not.
type refusal string

const (
	refusedFull   refusal = "listener_full" // the listener's total is reached
	refusedClient refusal = "client_full"   // this client's share is reached
)

// addrLimiter counts what clients hold (open connections, or requests in
// flight) in total and per client, so no one client can take what the
// gateway has (file descriptors, upstream connections) from the others.
// A client is an IPv4 address or an IPv6 /64, the block one host usually
// holds. It is safe for concurrent use; its cost is one map entry per
// client that holds something.
type addrLimiter struct {
	total   int // 0: no total
	perAddr int

	mu sync.Mutex
	n  int
	by map[netip.Addr]int
}

func newAddrLimiter(total, perAddr int) *addrLimiter {
	return &addrLimiter{total: total, perAddr: perAddr, by: make(map[netip.Addr]int)}
}

// acquire takes one unit for client, or says why it may not.
func (l *addrLimiter) acquire(client netip.Addr) refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.n >= l.total {
		return refusedFull
	}
	if l.by[client] >= l.perAddr {
		return refusedClient
	}
	l.n++
	l.by[client]++
	return ""
}

// release gives back a unit acquire took for client.
func (l *addrLimiter) release(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.by[client]--; l.by[client] <= 0 {
		delete(l.by, client)
	}
}

// clientOf returns the client an address belongs to (see addrLimiter);
// the zero Addr for one that is not IP (all of them share one budget).
func clientOf(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a.WithZone("")
}

// clientOfConn is clientOf for a connection's remote address.
func clientOfConn(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return clientOf(ta.AddrPort().Addr())
	}
	return netip.Addr{}
}

// clientOfRequest is clientOf for an HTTP request's RemoteAddr.
func clientOfRequest(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return clientOf(ap.Addr())
}
