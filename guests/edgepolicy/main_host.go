//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main exists so the host toolchain (go build ./..., go vet ./...) accepts
// this package; the guest itself is built for WebAssembly.
func main() {
	fmt.Fprintln(os.Stderr, "edgepolicy is a tlsgate guest: build it with go run ./internal/cmd/buildguests")
	os.Exit(2)
}
