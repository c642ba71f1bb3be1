package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// Hard caps on how much a single run may ask for, so a typo cannot start an
// endless or machine-exhausting run.
const (
	maxDuration    = time.Hour
	maxPause       = time.Hour
	maxCount       = 100_000_000
	maxConcurrency = 1024
	maxTimeout     = time.Minute
)

// mode selects how workers use sessions.
type mode string

const (
	// modeFull makes every connection without a session cache.
	modeFull mode = "full"
	// modeResume primes one session per worker and resumes with it.
	modeResume mode = "resume"
	// modeFirst makes every connection a client's first: full, but asking
	// for a session (the server issues, and a guest stores, one each time).
	modeFirst mode = "first"
)

// config is one validated benchmark run.
type config struct {
	addr        string   // the --addr flag: one address, or several separated by commas
	addrs       []string // addr split; validate fills it
	mode        mode
	tlsName     string // "1.2" or "1.3"
	sni         string
	alpn        []string
	concurrency int
	duration    time.Duration
	count       int64 // 0: no count limit
	pause       time.Duration
	timeout     time.Duration
	insecure    bool
	caFile      string
	serverPID   int // 0: no server CPU measurement
	sendRequest bool
}

// tlsVersions maps the --tls values to protocol versions.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// validate checks every field and names the flag in each error.
func (c *config) validate() error {
	if c.addr == "" {
		return errors.New("bench: --addr is required (host:port)")
	}
	c.addrs = c.addrs[:0]
	for _, a := range strings.Split(c.addr, ",") {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("bench: --addr %q: want host:port: %w", a, err)
		}
		c.addrs = append(c.addrs, a)
	}
	if c.mode != modeFull && c.mode != modeResume && c.mode != modeFirst {
		return fmt.Errorf("bench: --mode %q: want full, first or resume", c.mode)
	}
	if _, ok := tlsVersions[c.tlsName]; !ok {
		return fmt.Errorf("bench: --tls %q: want 1.2 or 1.3", c.tlsName)
	}
	if c.concurrency < 1 || c.concurrency > maxConcurrency {
		return fmt.Errorf("bench: --concurrency %d: want 1..%d", c.concurrency, maxConcurrency)
	}
	if c.duration <= 0 || c.duration > maxDuration {
		return fmt.Errorf("bench: --duration %s: want more than 0 and at most %s", c.duration, maxDuration)
	}
	if c.count < 0 || c.count > maxCount {
		return fmt.Errorf("bench: --count %d: want 0 (no limit) up to %d", c.count, maxCount)
	}
	if c.pause < 0 || c.pause > maxPause {
		return fmt.Errorf("bench: --pause %s: want 0 up to %s", c.pause, maxPause)
	}
	if c.pause > 0 && c.mode != modeResume {
		return errors.New("bench: --pause applies only to --mode resume")
	}
	if c.timeout <= 0 || c.timeout > maxTimeout {
		return fmt.Errorf("bench: --timeout %s: want more than 0 and at most %s", c.timeout, maxTimeout)
	}
	if c.sendRequest && slices.Contains(c.alpn, "h2") {
		return errors.New("bench: --send-request speaks HTTP/1.1: do not offer h2 in --alpn")
	}
	if c.serverPID < 0 {
		return fmt.Errorf("bench: --server-pid %d: want a process id", c.serverPID)
	}
	return nil
}

// clientTLS builds the tls.Config shared by all connections of the run;
// workers clone it to attach their own session cache in resume mode.
func (c *config) clientTLS() (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(c.addrs[0])
	tc := &tls.Config{
		MinVersion:         tlsVersions[c.tlsName],
		MaxVersion:         tlsVersions[c.tlsName],
		ServerName:         host,
		NextProtos:         c.alpn,
		InsecureSkipVerify: c.insecure, // on request: test servers are often self-signed
	}
	if c.sni != "" {
		tc.ServerName = c.sni
	}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("bench: --ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bench: --ca %s: no PEM certificate found", c.caFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
