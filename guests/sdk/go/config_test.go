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
