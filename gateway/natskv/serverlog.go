package natskv

import (
	"context"
	"fmt"
	"log/slog"
)

// serverLogger adapts slog to nats-server's Logger interface. The server's
// notices (a start-up banner of some twenty lines, client connections) go
// to debug; warnings and errors keep their level. A fatal
// message (the server cannot go on, e.g. its port is taken) is also sent to
// fatal, if nobody has received an earlier one, for StartEmbedded to report.
type serverLogger struct {
	l     *slog.Logger
	fatal chan<- string
}

func (s serverLogger) log(level slog.Level, format string, v []any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}

func (s serverLogger) Noticef(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s serverLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
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
