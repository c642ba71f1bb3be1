package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadPatchTargets(t *testing.T) {
	tests := []struct {
		name    string
		patch   string
		want    []target
		wantErr string
	}{
		{
			name: "changed and created files",
			patch: "header text\n--- a/src/crypto/tls/common.go\t2026-01-01\n+++ b/src/crypto/tls/common.go\t2026-01-01\n@@ -1 +1 @@\n-x\n+y\n" +
				"--- /dev/null\n+++ b/src/crypto/tls/new.go\n@@ -0,0 +1 @@\n+package tls\n",
			want: []target{{path: "src/crypto/tls/common.go"}, {path: "src/crypto/tls/new.go", isNew: true}},
		},
		{
			name:    "file outside crypto/tls",
			patch:   "--- a/src/net/http/server.go\n+++ b/src/net/http/server.go\n",
			wantErr: "is not a b/src/crypto/tls/*.go path",
		},
		{
			name:    "escape with dot-dot",
			patch:   "--- a/src/crypto/tls/../../os/file.go\n+++ b/src/crypto/tls/../../os/file.go\n",
			wantErr: "is not a b/src/crypto/tls/*.go path",
		},
		{
			name:    "old and new names differ",
			patch:   "--- a/src/crypto/tls/conn.go\n+++ b/src/crypto/tls/common.go\n",
			wantErr: "does not match",
		},
		{
			name:    "no files",
			patch:   "just words\n",
			wantErr: "changes no files",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "p.patch")
			if err := os.WriteFile(file, []byte(tt.patch), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readPatchTargets(file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readPatchTargets() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("readPatchTargets() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestShippedPatchTargets(t *testing.T) {
	got, err := readPatchTargets(shippedPatch)
	if err != nil {
		t.Fatal(err)
	}
	want := []target{
		{path: "src/crypto/tls/common.go"},
		{path: "src/crypto/tls/handshake_server.go"},
		{path: "src/crypto/tls/handshake_server_sessionid.go", isNew: true},
		{path: "src/crypto/tls/tls_test.go"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("shipped patch changes %+v, want %+v", got, want)
	}
}
