package main

import (
	"errors"
	"testing"
)

func TestCheckSupported(t *testing.T) {
	tests := []struct {
		name    string
		version string
		wantErr bool
	}{
		{name: "the release the patch was written for", version: "go1.26.8"},
		{name: "first release of the line", version: "go1.26.0"},
		{name: "bare release line", version: "go1.26"},
		{name: "later patch release", version: "go1.26.12"},
		{name: "older line", version: "go1.25.7", wantErr: true},
		{name: "newer line", version: "go1.27.0", wantErr: true},
		{name: "release candidate", version: "go1.26rc2", wantErr: true},
		{name: "development build", version: "devel go1.27-abcdef", wantErr: true},
		{name: "lookalike", version: "go1.260", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := toolchain{version: tt.version, goroot: "/goroot"}.checkSupported()
			if got := errors.Is(err, errUnsupportedToolchain); got != tt.wantErr {
				t.Fatalf("checkSupported(%q) = %v, want unsupported %v", tt.version, err, tt.wantErr)
			}
		})
	}
}
