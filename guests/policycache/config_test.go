package main

import (
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    policy
		wantErr bool
	}{
		{name: "empty gives defaults", in: "", want: policy{prefix: "p/", minVersion: versionTLS12}},
		{name: "all keys", in: "max_ttl=1h;tls13_only=true;prefix=api/",
			want: policy{prefix: "api/", maxTTL: time.Hour, minVersion: versionTLS13}},
		{name: "lines, spaces and a comment", in: "# api policy\n max_ttl = 90s \ntls13_only=false\n",
			want: policy{prefix: "p/", maxTTL: 90 * time.Second, minVersion: versionTLS12}},
		{name: "max_ttl 0 means no cap", in: "max_ttl=0s", want: policy{prefix: "p/", minVersion: versionTLS12}},
		{name: "empty prefix allowed", in: "prefix=", want: policy{prefix: "", minVersion: versionTLS12}},
		{name: "bad duration", in: "max_ttl=an hour", wantErr: true},
		{name: "negative duration", in: "max_ttl=-1h", wantErr: true},
		{name: "a signed duration", in: "max_ttl=+1h", wantErr: true},
		{name: "a negative zero", in: "max_ttl=-0s", wantErr: true},
		{name: "bad bool", in: "tls13_only=yes", wantErr: true},
		{name: "unknown key", in: "min_version=1.3", wantErr: true},
		{name: "not key=value", in: "tls13_only", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePolicy([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePolicy(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parsePolicy(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestPolicyTTL(t *testing.T) {
	tests := []struct {
		name      string
		maxTTL    time.Duration
		requested time.Duration
		want      time.Duration
	}{
		{name: "no cap keeps the request", maxTTL: 0, requested: 24 * time.Hour, want: 24 * time.Hour},
		{name: "cap below the request wins", maxTTL: time.Hour, requested: 24 * time.Hour, want: time.Hour},
		{name: "request below the cap wins", maxTTL: time.Hour, requested: time.Minute, want: time.Minute},
		{name: "no request gets the cap", maxTTL: time.Hour, requested: 0, want: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy{maxTTL: tt.maxTTL}
			if got := p.ttl(tt.requested); got != tt.want {
				t.Errorf("ttl(%s) with max_ttl %s = %s, want %s", tt.requested, tt.maxTTL, got, tt.want)
			}
		})
	}
}

func TestPolicyAllows(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		version uint16
		want    bool
	}{
		{name: "default caches TLS 1.2", config: "", version: versionTLS12, want: true},
		{name: "default caches TLS 1.3", config: "", version: versionTLS13, want: true},
		{name: "tls13_only refuses TLS 1.2", config: "tls13_only=true", version: versionTLS12, want: false},
		{name: "tls13_only caches TLS 1.3", config: "tls13_only=true", version: versionTLS13, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePolicy([]byte(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.allows(tt.version); got != tt.want {
				t.Errorf("allows(%#x) with %q = %v, want %v", tt.version, tt.config, got, tt.want)
			}
		})
	}
}
