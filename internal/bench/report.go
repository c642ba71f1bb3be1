package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// report is the result of a run; its JSON form is the --json output.
type report struct {
	Addr        string   `json:"addr"`
	Mode        string   `json:"mode"`
	TLSVersion  string   `json:"tls_version"`
	SNI         string   `json:"sni,omitempty"`
	ALPN        []string `json:"alpn,omitempty"`
	Concurrency int      `json:"concurrency"`
	// ElapsedSeconds is the length of the measured phase: priming and
	// --pause are not part of it.
	ElapsedSeconds      float64 `json:"elapsed_seconds"`
	Handshakes          int64   `json:"handshakes"`
	HandshakesPerSecond float64 `json:"handshakes_per_second"`
	Resumed             int64   `json:"resumed"`
	ResumedPercent      float64 `json:"resumed_percent"`
	// Primed counts the priming handshakes of resume mode, which are not
	// part of Handshakes, latency or resumption figures.
	Primed      int64            `json:"primed"`
	LatencyUS   latencyReport    `json:"latency_us"`
	Errors      map[string]int64 `json:"errors"`
	ErrorsTotal int64            `json:"errors_total"`
	// FirstErrors is the first error of each kind that occurred, so that a
	// run says why handshakes failed, not only how many.
	FirstErrors map[string]string `json:"first_errors,omitempty"`
	// ServerCPU is present only with --server-pid.
	ServerCPU *serverCPUReport `json:"server_cpu,omitempty"`
}

// latencyReport holds dial+handshake latency in microseconds.
type latencyReport struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// serverCPUReport is the server process's CPU use during the measured phase.
type serverCPUReport struct {
	PID             int     `json:"pid"`
	Seconds         float64 `json:"seconds"`
	PerHandshakeUS  float64 `json:"per_handshake_us"`
	ResolutionMilli int64   `json:"resolution_ms"`
}

// writeText renders r as a table for people.
func (r *report) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	target := r.Addr
	if r.SNI != "" {
		target += " (sni " + r.SNI + ")"
	}
	line("target\t%s", target)
	run := fmt.Sprintf("%s, TLS %s, concurrency %d, %.2fs measured", r.Mode, r.TLSVersion, r.Concurrency, r.ElapsedSeconds)
	if len(r.ALPN) > 0 {
		run += ", alpn " + strings.Join(r.ALPN, ",")
	}
	line("run\t%s", run)
	hs := fmt.Sprint(r.Handshakes)
	if r.Primed > 0 {
		hs += fmt.Sprintf(" (+%d priming, not counted)", r.Primed)
	}
	line("handshakes\t%s", hs)
	line("handshakes/s\t%.1f", r.HandshakesPerSecond)
	line("latency p50\t%s", formatMicros(r.LatencyUS.P50))
	line("latency p90\t%s", formatMicros(r.LatencyUS.P90))
	line("latency p99\t%s", formatMicros(r.LatencyUS.P99))
	line("latency max\t%s", formatMicros(r.LatencyUS.Max))
	line("resumed\t%.1f%% (%d of %d)", r.ResumedPercent, r.Resumed, r.Handshakes)
	errs := fmt.Sprint(r.ErrorsTotal)
	var kinds []string
	for _, k := range errorKinds {
		if n := r.Errors[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(kinds) > 0 {
		errs += " (" + strings.Join(kinds, ", ") + ")"
	}
	line("errors\t%s", errs)
	for _, k := range errorKinds {
		if e, ok := r.FirstErrors[k]; ok {
			line("  first %s error\t%s", k, e)
		}
	}
	if c := r.ServerCPU; c != nil {
		line("server cpu\t%.2fs (pid %d, %d ms resolution)", c.Seconds, c.PID, c.ResolutionMilli)
		line("server cpu/handshake\t%.0f us", c.PerHandshakeUS)
	}
	return tw.Flush()
}

// formatMicros renders a microsecond figure in us below 1 ms, else in ms.
func formatMicros(us float64) string {
	if us < 1000 {
		return fmt.Sprintf("%.1f us", us)
	}
	return fmt.Sprintf("%.2f ms", us/1000)
}
