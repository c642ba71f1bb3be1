package gateway

import (
	"net/netip"
	"testing"
)

func TestAddrLimiter(t *testing.T) {
	l := newAddrLimiter(3, 2)
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	steps := []struct {
		name    string
		client  netip.Addr
		release bool
		want    refusal
	}{
		{name: "a 1", client: a},
		{name: "a 2", client: a},
		{name: "a over its share", client: a, want: refusedClient},
		{name: "b 1", client: b},
		{name: "c over the total", client: c, want: refusedFull},
		{name: "a gives one back", client: a, release: true},
		{name: "c fits again", client: c},
	}
	for _, s := range steps {
		if s.release {
			l.release(s.client)
			continue
		}
		if got := l.acquire(s.client); got != s.want {
			t.Fatalf("%s: acquire = %q, want %q", s.name, got, s.want)
		}
	}
	for _, x := range []netip.Addr{a, b, c} {
		l.release(x)
	}
	if l.n != 0 || len(l.by) != 0 {
		t.Fatalf("after releasing everything: n = %d, %d clients held", l.n, len(l.by))
	}
}

func TestClientOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tt := range tests {
		if got := clientOf(netip.MustParseAddr(tt.in)); got != netip.MustParseAddr(tt.want) {
			t.Errorf("clientOf(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := clientOfRequest("[2001:db8::1]:443"); got != netip.MustParseAddr("2001:db8::") {
		t.Errorf("clientOfRequest = %s", got)
	}
}
