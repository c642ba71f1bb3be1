package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// What tlsgate tenant put reads is what a gateway reads back from the
// registry: a document encoded from a parsed tenant parses to the same
// tenant.
func TestTenantDocumentRoundTrip(t *testing.T) {
	in := `
name: shop
server_names: [shop.example.com, "*.shop.example.com"]
certificate: {cert_file: shop.crt, key_file: shop.key}
upstream: http://127.0.0.1:8080
session_ttl: 12h
guest: {module: "nats:cache", config: "ttl=1h", fetch_deadline: 20ms, kv_max_bytes: 1048576}
`
	tn, err := config.ParseTenantInput("/etc/tlsgate/shop.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if tn.Certificate.CertFile != "/etc/tlsgate/shop.crt" || tn.Guest.FetchDeadline != 20*time.Millisecond || tn.Guest.MaxInstances != 8 {
		t.Errorf("parsed %+v %+v", tn.Certificate, *tn.Guest)
	}
	tn.Certificate = config.Certificate{NATS: strings.Repeat("ab", 32)}
	doc, err := config.TenantDocument(tn)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.ParseTenantStored("registry", doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if !reflect.DeepEqual(back, tn) {
		t.Errorf("round trip:\n got %+v\nwant %+v\ndoc %s", back, tn, doc)
	}
}

// A bad document is refused with the field path of every problem, inside
// the document, and where it came from.
func TestTenantDocumentErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		stored    bool
		want      []string
	}{
		{name: "fields", doc: "name: a.b\nserver_names: [x..y]\ncertificate: {self_signed: true}\nupstream: builtin\nguest: {module: builtin:sessioncache, fetch_deadline: 1m}\n",
			want: []string{"t.yaml:1: name: \"a.b\"", "t.yaml:5: guest.fetch_deadline", "server_names[0]", "guest.fetch_deadline: 1m0s is out of range"}},
		{name: "file module", doc: "name: a\nserver_names: [a.test]\ncertificate: {self_signed: true}\nupstream: builtin\nguest: {module: /opt/g.wasm}\n",
			want: []string{"guest.module: \"/opt/g.wasm\": a registry tenant's guest is builtin:sessioncache, builtin:sessioncache-go or nats:<name>"}},
		{name: "unknown key", doc: "name: a\nserver_name: [a.test]\n", want: []string{"server_name"}},
		{name: "named certificates", doc: "name: a\nserver_names: [a.test]\ncertificate: {cert_file: a.crt, key_file: a.key}\ncertificates: [{name: rsa, cert_file: r.crt, key_file: r.key}]\nupstream: builtin\n",
			want: []string{"certificates: only in tenant files"}},
		{name: "nats by hand", doc: "name: a\nserver_names: [a.test]\ncertificate: {nats: abc}\nupstream: builtin\n",
			want: []string{"certificate.nats: is set by tlsgate tenant put"}},
		{name: "stored digest not hex", stored: true, doc: "name: a\nserver_names: [a.test]\ncertificate: {nats: abc}\nupstream: builtin\n",
			want: []string{`certificate.nats: "abc" is not a SHA-256 in hex`}},
		{name: "stored with files", stored: true, doc: "name: a\nserver_names: [a.test]\ncertificate: {cert_file: a.crt, key_file: a.key}\nupstream: builtin\n",
			want: []string{"certificate: a registry tenant's certificate is in NATS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := config.ParseTenantInput
			if tt.stored {
				parse = config.ParseTenantStored
			}
			_, err := parse("t.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
