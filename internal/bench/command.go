package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
)

const longHelp = `Open TLS connections to --addr as fast as --concurrency workers can, and report
handshakes/s, handshake latency (dial + handshake, measured on the client),
the share of resumed handshakes and errors by kind.

Modes:
  full    every connection starts without a session: every handshake is full.
  first   every handshake is full too, but the client accepts a session, as a
          browser's first visit does: a TLS 1.3 server then issues a ticket
          (and a tlsgate guest stores it) on each. What a resumption replaces.
  resume  each worker makes one priming handshake to get a session (not
          counted), waits --pause, then resumes with its session on every
          further connection. A connection counts as resumed only when the
          server actually resumed it (ConnectionState.DidResume).

The run stops after --duration or --count connections, whichever comes first.

Several --addr values (a,b,c) make every worker go to each in turn, worker i
starting at the i-th: in resume mode a session made on one server is resumed
on the others, which measures a fleet's shared session store.

Resumption notes (Go's TLS client):
  - It resumes only with session tickets (TLS 1.2 tickets, TLS 1.3 PSK). It
    cannot resume by TLS 1.2 Session ID, so a server that resumes only by
    Session ID (nginx with "ssl_session_tickets off") shows 0% resumed in 1.2.
  - In TLS 1.3 the ticket arrives after the handshake; in resume and first
    mode each worker reads briefly after the handshake to receive it (not
    timed; a worker that once waits in vain stops waiting), or reads the
    response when --send-request is set.

--server-pid reads the server's user+system CPU from /proc/PID/stat (Linux,
10 ms resolution) before and after the measured phase and reports CPU per
handshake; run enough handshakes for the figure to be meaningful.`

// NewCommand returns the "bench" command: a TLS handshake load generator for
// tlsgate, nginx or any TLS server. Its flags and their defaults are listed
// by "tlsgate bench --help". The command fails on invalid flags, when the
// run is interrupted, and when not a single handshake succeeded.
func NewCommand() *cobra.Command {
	var (
		c          config
		modeFlag   string
		insecure   bool
		jsonOutput bool
	)
	cmd := &cobra.Command{
		Use:   "bench --addr host:port",
		Short: "Measure TLS handshake rate, latency and resumption of a server",
		Long:  longHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.mode = mode(modeFlag)
			c.insecure = insecure
			if c.caFile != "" {
				if cmd.Flags().Changed("insecure") && insecure {
					return errors.New("bench: --ca and --insecure=true conflict: --ca verifies the server certificate")
				}
				c.insecure = false
			}
			if err := c.validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true // from here on, errors are about the run, not the flags
			rep, runErr := run(cmd.Context(), c, progressTo(cmd.ErrOrStderr()))
			if rep == nil {
				return runErr
			}
			var err error
			if jsonOutput {
				err = json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			} else {
				err = rep.writeText(cmd.OutOrStdout())
			}
			switch {
			case runErr != nil: // interrupted: the partial report is printed above
				return runErr
			case err != nil:
				return fmt.Errorf("bench: write report: %w", err)
			case rep.Handshakes == 0:
				return fmt.Errorf("bench: no handshake succeeded (%d errors)", rep.ErrorsTotal)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.addr, "addr", "", "server address, host:port (required); several, comma-separated, are used in turn by every worker, so resume mode resumes on one server sessions made on another (a fleet)")
	f.StringVar(&modeFlag, "mode", string(modeFull), "full (no session reuse), first (full, accepting a session each time) or resume (prime one session per worker, then resume)")
	f.StringVar(&c.tlsName, "tls", "1.3", "TLS version: 1.2 or 1.3")
	f.StringVar(&c.sni, "sni", "", "server name to send and verify (default: the host of --addr; no SNI is sent for an IP address)")
	f.StringSliceVar(&c.alpn, "alpn", nil, "ALPN protocols to offer, comma separated (default: none)")
	f.IntVar(&c.concurrency, "concurrency", 4, fmt.Sprintf("number of workers, each with one connection at a time (1..%d)", maxConcurrency))
	f.DurationVar(&c.duration, "duration", 10*time.Second, fmt.Sprintf("length of the measured phase (at most %s)", maxDuration))
	f.Int64Var(&c.count, "count", 0, fmt.Sprintf("stop after this many connections; 0: no count limit (at most %d)", maxCount))
	f.DurationVar(&c.pause, "pause", 0, "resume mode: wait this long between priming the sessions and resuming them")
	f.DurationVar(&c.timeout, "timeout", 5*time.Second, "per-connection limit for dial + handshake (and the request with --send-request)")
	f.BoolVar(&insecure, "insecure", true, "do not verify the server certificate, for self-signed servers (--ca turns verification on)")
	f.StringVar(&c.caFile, "ca", "", "PEM file of CA certificates to verify the server with")
	f.IntVar(&c.serverPID, "server-pid", 0, "report the CPU time this local process spends per handshake (Linux /proc)")
	f.BoolVar(&jsonOutput, "json", false, "print one JSON object to stdout instead of the table")
	f.BoolVar(&c.sendRequest, "send-request", false, "after the handshake send \"GET / HTTP/1.1\" and read the response (default: close right after the handshake)")
	return cmd
}

// progressTo returns the writer for the live progress line, or nil when w
// is not a terminal. A character device is taken as a terminal; the one
// common false positive, /dev/null, discards the line anyway.
func progressTo(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}
