package natskv

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// serverLogger adapts slog to nats-server's Logger interface. The server's
// notices go to debug, but for its start-up banner (some thirty lines,
// ASCII art included), which is left out: "Server is ready" ends it, and
// becomes one debug line. Warnings and errors keep their level. A fatal
// message (the server cannot go on, e.g. its port is taken) is also sent to
// fatal, if nobody has received an earlier one, for StartEmbedded to report.
type serverLogger struct {
	l       *slog.Logger
	fatal   chan<- string
	started *atomic.Bool // the banner is over
}

func (s serverLogger) log(level slog.Level, format string, v []any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}

func (s serverLogger) Noticef(format string, v ...any) {
	if s.started.Load() {
		s.log(slog.LevelDebug, format, v)
		return
	}
	if strings.Contains(format, "Server is ready") {
		s.started.Store(true)
		s.log(slog.LevelDebug, "embedded nats-server ready", nil)
	}
}
func (s serverLogger) Warnf(format string, v ...any) { s.log(slog.LevelWarn, format, v) }
func (s serverLogger) Fatalf(format string, v ...any) {
	s.log(slog.LevelError, format, v)
	select {
	case s.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}
func (s serverLogger) Errorf(format string, v ...any) { s.log(slog.LevelError, format, v) }
func (s serverLogger) Debugf(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s serverLogger) Tracef(format string, v ...any) { s.log(slog.LevelDebug-4, format, v) }
