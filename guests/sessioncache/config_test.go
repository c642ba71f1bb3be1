package main

import "testing"

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantPrefix string
		wantErr    bool
	}{
		{name: "empty gives default", in: "", wantPrefix: "s/"},
		{name: "prefix", in: "prefix=sess/", wantPrefix: "sess/"},
		{name: "spaces and newline", in: " prefix = a/ \n", wantPrefix: "a/"},
		{name: "semicolons and comment", in: "# sessions\n;prefix=t1/;", wantPrefix: "t1/"},
		{name: "empty prefix allowed", in: "prefix=", wantPrefix: ""},
		{name: "unknown key", in: "bucket=x", wantErr: true},
		{name: "not key=value", in: "prefix", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseConfig(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got.prefix != tt.wantPrefix {
				t.Errorf("parseConfig(%q).prefix = %q, want %q", tt.in, got.prefix, tt.wantPrefix)
			}
		})
	}
}
