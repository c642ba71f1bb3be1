package guestbuild

import (
	"errors"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoGuests is returned by FindGuests when the tree holds no guest.
var ErrNoGuests = errors.New("guestbuild: no guest main packages found")

// FindGuests returns the directories under root that hold a Go main package
// when built for wasip1, sorted. It skips testdata, vendor and directories
// whose name starts with "." or "_", as the go command does.
func FindGuests(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		ok, err := isGuestMain(path)
		if err != nil {
			return err
		}
		if ok {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("guestbuild: %w", err)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w under %s", ErrNoGuests, root)
	}
	return dirs, nil
}

// isGuestMain reports whether dir holds a main package for wasip1/wasm.
func isGuestMain(dir string) (bool, error) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH = "wasip1", "wasm"
	ctx.CgoEnabled = false
	pkg, err := ctx.ImportDir(dir, 0)
	if err != nil {
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return false, nil
		}
		return false, err
	}
	return pkg.Name == "main", nil
}
