package guest_test

import (
	"reflect"
	"testing"

	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []guest.ConfigField
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"semicolons", "prefix=s/; max_ttl = 1h", []guest.ConfigField{{"prefix", "s/"}, {"max_ttl", "1h"}}, ""},
		{"lines and comments", "# policy\nprefix=a=b\n\n;;", []guest.ConfigField{{"prefix", "a=b"}}, ""},
		{"empty value", "prefix=", []guest.ConfigField{{"prefix", ""}}, ""},
		{"no equals", "prefix=p/;oops", nil, `config: "oops" is not key=value`},
		// The cases the AssemblyScript SDK's tests/unit.ts checks too: both
		// SDKs read docs/abi.md section 14 the same way.
		{"a comment ends at a semicolon", " prefix = s/ ;\n# a comment; max_ttl=2h\n\tmax_ttl=1h\r\n;;tls13_only=true",
			[]guest.ConfigField{{"prefix", "s/"}, {"max_ttl", "2h"}, {"max_ttl", "1h"}, {"tls13_only", "true"}}, ""},
		{"# inside a value", "k=v#not a comment", []guest.ConfigField{{"k", "v#not a comment"}}, ""},
		{"UTF-8 value", "name=é", []guest.ConfigField{{"name", "é"}}, ""},
		{"not UTF-8 in a key", "prefix\xc3=x/", nil, "config: not valid UTF-8"},
		{"not UTF-8 in a value", "max_ttl=1h\xff", nil, "config: not valid UTF-8"},
		{"an overlong form", "prefix=\xc0\xb0", nil, "config: not valid UTF-8"},
		{"past U+10FFFF", "prefix=\xf4\x90\x80\x80", nil, "config: not valid UTF-8"},
		{"only ASCII white space is trimmed", "k=\u00a0v\u00a0", []guest.ConfigField{{"k", "\u00a0v\u00a0"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := guest.ParseConfig([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
