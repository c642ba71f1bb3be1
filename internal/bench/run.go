package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// run executes one benchmark: in resume mode every worker primes a session
// and the run waits c.pause; then the measured phase runs until c.duration
// has passed or c.count connections were made, whichever comes first. A
// connection in flight at the deadline is finished and counted. progress,
// when not nil, receives the live progress line.
//
// When ctx is cancelled the run stops, in-flight connections are dropped
// uncounted, and run returns the partial report with an error.
func run(ctx context.Context, c config, progress io.Writer) (*report, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	base, err := c.clientTLS()
	if err != nil {
		return nil, err
	}
	if c.serverPID != 0 {
		if _, err := processCPU(c.serverPID); err != nil {
			return nil, err
		}
	}
	rec := newRecorder()
	workers := make([]*worker, c.concurrency)
	for i := range workers {
		workers[i] = newWorker(c, i, base)
	}

	var primed atomic.Int64
	if c.mode == modeResume {
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() {
				o := w.connect(ctx)
				switch {
				case ctx.Err() != nil:
				case o.errKind != "":
					rec.add(o) // shown among the errors; the worker's next connection is a full one
				default:
					primed.Add(1)
				}
			})
		}
		wg.Wait()
		if c.pause > 0 {
			if progress != nil {
				fmt.Fprintf(progress, "\r\033[Kprimed %d sessions, pausing %s", primed.Load(), c.pause)
			}
			t := time.NewTimer(c.pause)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}

	var cpuBefore time.Duration
	if c.serverPID != 0 {
		if cpuBefore, err = processCPU(c.serverPID); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	deadline := start.Add(c.duration)
	var started atomic.Int64
	line := startProgress(progress, rec, start)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			var backoff time.Duration
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if c.count > 0 && started.Add(1) > c.count {
					return
				}
				o := w.connect(ctx)
				if ctx.Err() != nil {
					return
				}
				rec.add(o)
				// A server that refuses connections (down, or its port
				// closed) is not redialled in a tight loop: each dial
				// failure in a row doubles the wait, up to a second.
				if o.errKind == errDial {
					backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
					select {
					case <-ctx.Done():
					case <-time.After(min(backoff, time.Until(deadline))):
					}
				} else {
					backoff = 0
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	line.stopProgress()

	rep := &report{
		Addr:           c.addr,
		Mode:           string(c.mode),
		TLSVersion:     c.tlsName,
		SNI:            c.sni,
		ALPN:           c.alpn,
		Concurrency:    c.concurrency,
		ElapsedSeconds: elapsed.Seconds(),
		Primed:         primed.Load(),
		LatencyUS:      rec.latencies(),
	}
	rep.Handshakes, rep.Resumed, _ = rec.counts()
	rep.FirstErrors = rec.firstErrors()
	rep.HandshakesPerSecond = rate(rep.Handshakes, elapsed)
	rep.ResumedPercent = percent(rep.Resumed, rep.Handshakes)
	rep.Errors, rep.ErrorsTotal = rec.errorCounts()
	if c.serverPID != 0 {
		cpuAfter, err := processCPU(c.serverPID)
		if err != nil {
			return rep, err
		}
		used := cpuAfter - cpuBefore
		rep.ServerCPU = &serverCPUReport{
			PID:             c.serverPID,
			Seconds:         used.Seconds(),
			ResolutionMilli: clockTick.Milliseconds(),
		}
		if rep.Handshakes > 0 {
			rep.ServerCPU.PerHandshakeUS = micros(used / time.Duration(rep.Handshakes))
		}
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("bench: interrupted: %w", err)
	}
	return rep, nil
}
