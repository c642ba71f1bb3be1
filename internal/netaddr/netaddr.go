// Package netaddr holds the one address rule that the configuration and
// the embedded NATS server must agree on.
package netaddr

import "net"

// IsLoopback reports whether host (an IP address or a name, as in a
// host:port) can only be reached from this machine: "localhost" or a
// loopback IP. "", "0.0.0.0" and "::" listen on every interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
