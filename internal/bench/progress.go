package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressInterval is how often the live progress line is redrawn.
const progressInterval = 500 * time.Millisecond

// progressLine redraws one status line on a terminal until stopped.
type progressLine struct {
	stop chan struct{}
	done sync.WaitGroup
}

// startProgress redraws a line on w every progressInterval with the counts
// of rec since start. A nil w shows nothing. Call stop exactly once.
func startProgress(w io.Writer, rec *recorder, start time.Time) *progressLine {
	p := &progressLine{stop: make(chan struct{})}
	if w == nil {
		return p
	}
	p.done.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(w, "\r\033[K") // leave a clean line for the report
				return
			case <-t.C:
				elapsed := time.Since(start)
				n, resumed, errs := rec.counts()
				fmt.Fprintf(w, "\r\033[K%6.1fs  %d handshakes  %.0f/s  resumed %.1f%%  errors %d",
					elapsed.Seconds(), n, rate(n, elapsed), percent(resumed, n), errs)
			}
		}
	})
	return p
}

// stopProgress stops the redraws and clears the line.
func (p *progressLine) stopProgress() {
	close(p.stop)
	p.done.Wait()
}

// rate returns n per second of d; 0 when d is 0.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// percent returns part of whole in percent; 0 when whole is 0.
func percent(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
