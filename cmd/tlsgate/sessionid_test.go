package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var noTicket = []string{"-tls1_2", "-no_ticket"}

// The case nginx's per-host cache cannot serve: a Session-ID-only client
// resumes on another gateway that shares the NATS key-value store.
func TestSessionIDResumesAcrossGateways(t *testing.T) {
	a := startGW(t, gwOpts{bin: binPatched, natsLsn: true})
	b := startGW(t, gwOpts{bin: binPatched, join: a})
	if got := resumeWithOpenSSL(t, a, b, "a.test", noTicket...); got != "Reused" {
		t.Fatalf("session made on gateway A, offered to gateway B: %s, want Reused", got)
	}
	if n := b.metric(t, "tlsgate_resumption_attempts_total", `mechanism="tls12_session_id"`, `result="hit"`); n < 1 {
		t.Errorf("gateway B counted %v Session-ID hits", n)
	}
}

func TestSessionIDBoundToServerName(t *testing.T) {
	g := startGW(t, gwOpts{bin: binPatched})
	sess := filepath.Join(t.TempDir(), "sess.pem")
	stored := g.stores(t)
	sClient(t, g.addr, "a.test", sess, false, noTicket...)
	g.waitStores(t, stored)
	if got := sClient(t, g.addr, "alias-a.test", sess, true, noTicket...); got != "New" {
		t.Fatalf("session for a.test offered under alias-a.test: %s, want New", got)
	}
	if n := g.metric(t, "tlsgate_resumption_attempts_total", `mechanism="tls12_session_id"`, `result="mismatch"`); n != 1 {
		t.Errorf("Session-ID mismatches counted: %v, want 1", n)
	}
}

func TestSessionIDTamperedBlobRefused(t *testing.T) {
	g := startGW(t, gwOpts{bin: binPatched, natsLsn: true})
	sess := filepath.Join(t.TempDir(), "sess.pem")
	stored := g.stores(t)
	sClient(t, g.addr, "a.test", sess, false, noTicket...)
	g.waitStores(t, stored)

	nk, err := nats.NkeyOptionFromSeed(filepath.Join(g.dataDir, "nats-gateway.nk"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+g.nats, nk)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "tlsgate_sessions")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx, jetstream.MetaOnly()) // tenant a's, the only one with a guest
	if err != nil || len(keys) == 0 {
		t.Fatalf("no stored sessions: %v", err)
	}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		v := append([]byte(nil), e.Value()...)
		v[len(v)/2] ^= 0x80
		if _, err := kv.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if got := sClient(t, g.addr, "a.test", sess, true, noTicket...); got != "New" {
		t.Fatalf("tampered session: %s, want New", got)
	}
	if n := g.metric(t, "tlsgate_resumption_attempts_total", `mechanism="tls12_session_id"`, `result="tamper"`); n != 1 {
		t.Errorf("Session-ID tamper results counted: %v, want 1", n)
	}
}

func TestJavaResumesBySessionID(t *testing.T) {
	for _, tool := range []string{"javac", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: apt-get install openjdk-17-jdk-headless", tool)
		}
	}
	classes := t.TempDir()
	if out, err := exec.Command("javac", "-d", classes, "testdata/ResumeHTTP.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	tests := []struct {
		name, bin, want string
	}{
		{"make build", binPatched, "resumed=true"},
		{"plain build", binPlain, "resumed=false"}, // reported: no Session-ID support compiled in
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGW(t, gwOpts{bin: tt.bin})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "java", "-cp", classes,
				"-Djdk.tls.client.enableSessionTicketExtension=false", "ResumeHTTP", "localhost", port(g.addr))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("java: %v\n%s", err, out)
			}
			t.Logf("java client:\n%s", out)
			if !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "status=HTTP/1.0 200 OK") {
				t.Fatalf("want %s and two 200 replies", tt.want)
			}
		})
	}
}
