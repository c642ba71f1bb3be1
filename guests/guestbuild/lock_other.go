//go:build !unix

package guestbuild

import "os"

// lockFile does nothing where flock(2) does not exist: concurrent installs
// of the AssemblyScript compiler are then the caller's to avoid.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
