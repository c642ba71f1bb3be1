package guest

import (
	"github.com/tlsgate/tlsgate/abi"
)

// SetSession hands the sealed session found for SessionID back to the host
// during a fetch call; the host copies it before SetSession returns. The
// fetch export then returns abi.StatusOK for a hit. A later call replaces the
// earlier one.
//
// Errors: ErrBadArgument outside a fetch call, ErrLimitExceeded when
// len(session) > abi.MaxSessionLen.
func SetSession(session []byte) error {
	if len(session) > abi.MaxSessionLen {
		return &StatusError{Op: "set_session", Status: abi.StatusLimitExceeded}
	}
	return statusErr("set_session", abi.Status(hostSetSession(ptr(session), int32(len(session)))))
}
