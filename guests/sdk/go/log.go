package guest

import (
	"fmt"
	"unsafe"

	"github.com/tlsgate/tlsgate/abi"
)

// Log writes msg at level to the gateway's log, attributed to the tenant and
// the guest. The host truncates messages longer than abi.MaxLogLen and may
// drop messages when a guest logs too much; neither is reported. Log returns
// ErrBadArgument for an unknown level.
func Log(level abi.LogLevel, msg string) error {
	if len(msg) > abi.MaxLogLen {
		msg = msg[:abi.MaxLogLen]
	}
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(unsafe.StringData(msg))
	}
	return statusErr("log", abi.Status(hostLog(int32(level), p, int32(len(msg)))))
}

// Logf formats its arguments as fmt.Sprintf does and writes the result at
// level, as Log does.
func Logf(level abi.LogLevel, format string, args ...any) error {
	return Log(level, fmt.Sprintf(format, args...))
}

// Debug logs msg at abi.LogDebug and ignores errors.
func Debug(msg string) { _ = Log(abi.LogDebug, msg) }

// Info logs msg at abi.LogInfo and ignores errors.
func Info(msg string) { _ = Log(abi.LogInfo, msg) }

// Warn logs msg at abi.LogWarn and ignores errors.
func Warn(msg string) { _ = Log(abi.LogWarn, msg) }

// Error logs msg at abi.LogError and ignores errors.
func Error(msg string) { _ = Log(abi.LogError, msg) }
