//go:build wasip1

// Command sdkguest exercises the guest SDK for the SDK's own tests. The
// session ID of a fetch names a scenario; the fetch hands back a transcript
// of what the scenario saw as the "session", one line per step. The store
// export writes the transcript of its scenario (named by the session ID too)
// to the KV key "report".
package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

type transcript struct{ strings.Builder }

func (t *transcript) step(format string, args ...any) {
	fmt.Fprintf(t, format, args...)
	t.WriteByte('\n')
}

// res renders a result as "value" or the error's status name.
func res(v []byte, err error) string {
	if err != nil {
		var se *guest.StatusError
		if errors.As(err, &se) {
			return se.Status.String()
		}
		return "error " + err.Error()
	}
	return fmt.Sprintf("%q", v)
}

func inputs(t *transcript) {
	t.step("call=%d tenant=%s config=%q", guest.Call(), guest.Tenant(), guest.GuestConfig())
	t.step("sid=%q sni=%q alpn=%q addr=%q", guest.SessionID(), guest.ServerName(), guest.ALPN(), guest.ClientAddr())
	t.step("version=%#04x mechanism=%d", guest.TLSVersion(), guest.Mechanism())
	t.step("session=%q ttl=%s created=%d", guest.Session(), guest.TTL(), unix(guest.SessionCreated()))
	_, err := guest.Input(abi.InputKind(999))
	t.step("unknown input: %s", res(nil, err))
}

func unix(tm time.Time) int64 {
	if tm.IsZero() {
		return 0
	}
	return tm.Unix()
}

func kv(t *transcript) {
	k := []byte("kv/a")
	t.step("get missing: %s", res(guest.KV.Get(k)))
	t.step("put: %s", res(nil, guest.KV.Put(k, []byte("1"), 0)))
	t.step("get: %s", res(guest.KV.Get(k)))
	err := guest.KV.Create(k, []byte("2"), time.Minute)
	t.step("create present: %s is ErrExists=%v", res(nil, err), errors.Is(err, guest.ErrExists))
	t.step("create absent: %s", res(nil, guest.KV.Create([]byte("kv/b"), []byte("b"), time.Minute)))
	t.step("delete: %s", res(nil, guest.KV.Delete(k)))
	_, err = guest.KV.Get(k)
	t.step("get deleted: %s is ErrNotFound=%v", res(nil, err), errors.Is(err, guest.ErrNotFound))
	t.step("empty key: %s", res(guest.KV.Get(nil)))
	t.step("long key: %s", res(guest.KV.Get(make([]byte, abi.MaxKeyLen+1))))
	t.step("binary key: %s", res(nil, guest.KV.Put([]byte{0, 1, 0xff}, []byte("bin"), 0)))
	t.step("binary key get: %s", res(guest.KV.Get([]byte{0, 1, 0xff})))
	// The append forms keep what dst holds and reuse its capacity.
	buf := make([]byte, 0, 64)
	buf = append(buf, "prefix:"...)
	got, err := guest.KV.GetAppend(buf, []byte("kv/b"))
	t.step("get append: %q err=%v same array=%v", got, err, &got[0] == &buf[:1][0])
	got, err = guest.KV.GetAppend([]byte("x")[:1:1], []byte("kv/b"))
	t.step("get append grown: %q err=%v", got, err)
	got, err = guest.KV.GetAppend(buf, []byte("kv/none"))
	t.step("get append missing: %q is ErrNotFound=%v", got, errors.Is(err, guest.ErrNotFound))
	t.step("append id: %q", guest.AppendSessionID([]byte("s/")))
	got, err = guest.AppendInput(nil, abi.InputKind(999))
	t.step("append unknown input: %q %s", got, res(nil, err))
}

func large(t *transcript) {
	big := bytes.Repeat([]byte("0123456789abcdef"), abi.MaxValueLen/16)
	t.step("put max value: %s", res(nil, guest.KV.Put([]byte("large"), big, 0)))
	v, err := guest.KV.Get([]byte("large"))
	t.step("get max value: len=%d equal=%v err=%v", len(v), bytes.Equal(v, big), err)
	t.step("put too large: %s", res(nil, guest.KV.Put([]byte("large"), append(big, 'x'), 0)))
	t.step("set too large: %s", res(nil, guest.SetSession(append(big, 'x'))))
}

func async(t *transcript) {
	_ = guest.KV.Put([]byte("async/1"), []byte("one"), 0)
	_ = guest.KV.Put([]byte("async/2"), []byte("two"), 0)
	fs := []*guest.Future{
		guest.KV.GetAsync([]byte("async/1")),
		guest.KV.GetAsync([]byte("async/2")),
		guest.KV.GetAsync([]byte("async/missing")),
		guest.KV.PutAsync([]byte("async/3"), []byte("three"), time.Minute),
	}
	results := make([]string, len(fs))
	for n := 0; n < len(fs); n++ {
		i, err := guest.AwaitAny(fs...)
		if err != nil {
			t.step("await any: %s", res(nil, err))
			return
		}
		results[i] = res(fs[i].Await())
		fs[i] = nil
	}
	t.step("results: %s", strings.Join(results, " "))
	_, err := guest.AwaitAny(fs...)
	t.step("await any of nothing: %s", res(nil, err))

	f := guest.KV.GetAsync([]byte("async/3"))
	for range 1000 {
		if f.Poll() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	t.step("poll then await: %s", res(f.Await()))
	t.step("await again: %s", res(f.Await()))

	g := guest.KV.GetAsync([]byte("async/1"))
	v, err := g.AwaitTimeout(2 * time.Second)
	t.step("await timeout: %s", res(v, err))

	r := guest.KV.GetAsync([]byte("async/1"))
	r.Release()
	r.Release()
	t.step("await released: %s", res(r.Await()))

	// More live futures than handles: the extra ones fail to start.
	var live []*guest.Future
	for range abi.MaxHandles + 2 {
		live = append(live, guest.KV.GetAsync([]byte("async/1")))
	}
	limited := 0
	for _, f := range live {
		if _, err := f.Await(); errors.Is(err, guest.ErrLimitExceeded) {
			limited++
		}
	}
	t.step("over the handle limit: %d limited", limited)
}

func logs(t *transcript) {
	guest.Debug("debug message")
	guest.Info("info message")
	guest.Warn("warn message")
	guest.Error("error message")
	t.step("logf: %s", res(nil, guest.Logf(abi.LogInfo, "formatted %d %s", 42, "words")))
	t.step("bad level: %s", res(nil, guest.Log(abi.LogLevel(17), "x")))
}

var scenarios = map[string]func(*transcript){
	"inputs": inputs, "kv": kv, "large": large, "async": async, "log": logs,
}

//go:wasmexport tlsgate_on_session_fetch
func fetch() abi.Status {
	var t transcript
	name := string(guest.SessionID())
	s, ok := scenarios[name]
	if !ok {
		return abi.StatusNotFound
	}
	s(&t)
	return guest.StatusOf(guest.SetSession([]byte(t.String())))
}

//go:wasmexport tlsgate_on_session_store
func store() abi.Status {
	var t transcript
	inputs(&t)
	t.step("set_session in store: %s", res(nil, guest.SetSession([]byte("x"))))
	t.step("set_route in store: %s", res(nil, guest.SetRoute("x")))
	t.step("set_certificate in store: %s", res(nil, guest.SetCertificate("x")))
	return guest.StatusOf(guest.KV.Put([]byte("report"), []byte(t.String()), 0))
}

// clientHello (ABI 1.1) writes what it read of the ClientHello to the KV key
// "hello", then refuses deny.test, routes route.test to the tenant
// "routed", and lets anything else go on by SNI.
//
//go:wasmexport tlsgate_on_client_hello
func clientHello() abi.Status {
	var t transcript
	t.step("call=%d tenant=%q config=%q", guest.Call(), guest.Tenant(), guest.GuestConfig())
	t.step("sni=%q addr=%q alpn=%q", guest.ServerName(), guest.ClientAddr(), guest.OfferedALPN())
	t.step("versions=%04x ciphers=%04x groups=%04x", guest.SupportedVersions(), guest.CipherSuites(), guest.SupportedGroups())
	t.step("sigs=%04x exts=%04x ja4=%q", guest.SignatureSchemes(), guest.Extensions(), guest.JA4())
	t.step("sid=%q set_session: %s", guest.SessionID(), res(nil, guest.SetSession([]byte("x"))))
	t.step("empty route: %s long route: %s", res(nil, guest.SetRoute("")), res(nil, guest.SetRoute(strings.Repeat("r", 65))))
	if err := guest.KV.Put([]byte("hello"), []byte(t.String()), 0); err != nil {
		return guest.StatusOf(err)
	}
	switch guest.ServerName() {
	case "deny.test":
		return abi.StatusAccessDenied
	case "route.test":
		if err := guest.SetRoute("routed"); err != nil {
			return guest.StatusOf(err)
		}
	}
	return abi.StatusOK
}

// certificate (ABI 1.1) writes what it read to the KV key "certificate",
// then refuses deny.test, names "rsa" for rsa.test, "missing" for
// missing.test, and leaves the choice to the gateway for anything else.
//
//go:wasmexport tlsgate_on_certificate
func certificate() abi.Status {
	var t transcript
	t.step("call=%d tenant=%q config=%q", guest.Call(), guest.Tenant(), guest.GuestConfig())
	t.step("sni=%q addr=%q ja4=%q ecdsa=%v", guest.ServerName(), guest.ClientAddr(), guest.JA4(), guest.AcceptsECDSA())
	t.step("certificates=%v", guest.Certificates())
	t.step("set_route: %s empty: %s long: %s", res(nil, guest.SetRoute("x")),
		res(nil, guest.SetCertificate("")), res(nil, guest.SetCertificate(strings.Repeat("c", 65))))
	if err := guest.KV.Put([]byte("certificate"), []byte(t.String()), 0); err != nil {
		return guest.StatusOf(err)
	}
	switch guest.ServerName() {
	case "deny.test":
		return abi.StatusAccessDenied
	case "rsa.test":
		return guest.StatusOf(guest.SetCertificate("rsa"))
	case "missing.test":
		return guest.StatusOf(guest.SetCertificate("missing"))
	}
	return abi.StatusOK
}

// upstreamFetch (ABI 1.1) hands back a transcript of its inputs as the
// session; upstreamStore writes one to the KV key "upstream".
//
//go:wasmexport tlsgate_on_upstream_session_fetch
func upstreamFetch() abi.Status {
	var t transcript
	t.step("call=%d tenant=%s upstream=%q sni=%q", guest.Call(), guest.Tenant(), guest.Upstream(), guest.ServerName())
	return guest.StatusOf(guest.SetSession([]byte(t.String())))
}

//go:wasmexport tlsgate_on_upstream_session_store
func upstreamStore() abi.Status {
	var t transcript
	t.step("call=%d upstream=%q session=%q ttl=%s", guest.Call(), guest.Upstream(), guest.Session(), guest.TTL())
	t.step("set_session: %s", res(nil, guest.SetSession([]byte("x"))))
	return guest.StatusOf(guest.KV.Put([]byte("upstream"), []byte(t.String()), 0))
}

func main() {}
