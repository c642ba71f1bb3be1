// Command tlsoverlay prepares a go build -overlay that adds TLS 1.2 Session ID
// resumption to crypto/tls (Config.GetSessionByID and Config.StoreSessionByID).
//
// It checks that the go command's toolchain is supported, copies the files of
// $GOROOT/src/crypto/tls that patches/crypto-tls-sessionid.patch touches into
// the output directory, applies the patch with GNU patch (no fuzz; offsets are
// refused unless -allow-offset), and writes overlay.json mapping the GOROOT
// paths to the patched copies:
//
//	go run ./internal/cmd/tlsoverlay -out _build/overlay
//	go build -overlay _build/overlay/overlay.json -tags tlsgate_sessionid ./cmd/tlsgate
//
// Nothing under GOROOT is modified. See docs/session-id.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	out         string
	patch       string
	goCmd       string
	allowOffset bool
	timeout     time.Duration
}

// run is the whole command, separated from main for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("tlsoverlay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "_build/overlay", "output directory; replaced on success")
	fs.StringVar(&o.patch, "patch", "patches/crypto-tls-sessionid.patch", "unified diff against $GOROOT (patch -p1)")
	fs.StringVar(&o.goCmd, "go", "go", "go command whose toolchain is patched")
	fs.BoolVar(&o.allowOffset, "allow-offset", false, "accept hunks that apply at shifted line numbers (never fuzz)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("tlsoverlay: unexpected arguments %q", fs.Args())
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	tc, err := lookupToolchain(ctx, o.goCmd)
	if err != nil {
		return err
	}
	if err := tc.checkSupported(); err != nil {
		return err
	}
	targets, err := readPatchTargets(o.patch)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return fmt.Errorf("tlsoverlay: %w", err)
	}
	warnings, err := buildOverlay(ctx, tc, o.patch, targets, out, o.allowOffset)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "tlsoverlay: warning:", w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tlsoverlay: %s: patched %d files of crypto/tls; use -overlay %s\n",
		tc.version, len(targets), filepath.Join(o.out, overlayFile))
	return nil
}
