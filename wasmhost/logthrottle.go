package wasmhost

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Guest log rate limit, per pool.
const (
	guestLogRate  = 20 // messages per second
	guestLogBurst = 50
)

// logLimiter is a token bucket counting the messages it drops.
type logLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	tokens  float64
	last    time.Time
	dropped uint64
}

func newLogLimiter(rate, burst float64) logLimiter {
	return logLimiter{rate: rate, burst: burst, tokens: burst}
}

// allow takes a token. When it succeeds it also returns, and resets, the
// number of messages dropped since the last allowed one.
func (l *logLimiter) allow(now time.Time) (ok bool, dropped uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// reportDropped logs, and resets, the count of dropped messages.
func (l *logLimiter) reportDropped(logger *slog.Logger) {
	l.mu.Lock()
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		logger.LogAttrs(context.Background(), slog.LevelWarn, "wasmhost: guest log messages dropped by the rate limit",
			slog.Uint64("dropped", dropped))
	}
}
