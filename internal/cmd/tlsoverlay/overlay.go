package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// overlayFile is the name of the -overlay file inside the output directory.
const overlayFile = "overlay.json"

// errPatchNotClean is returned when a hunk fails or would apply only at a
// shifted position.
var errPatchNotClean = errors.New("tlsoverlay: patch does not apply cleanly")

// offsetLine matches patch's report of a hunk applied at another line.
var offsetLine = regexp.MustCompile(`(?m)^Hunk #\d+ succeeded at \d+ .*offset.*$`)

// buildOverlay copies the targets from GOROOT into a staging directory beside
// out, applies patchFile there and writes overlay.json; only when all of that
// succeeded does it replace out. It returns patch's offset reports as
// warnings when allowOffset is set.
func buildOverlay(ctx context.Context, tc toolchain, patchFile string, targets []target, out string, allowOffset bool) ([]string, error) {
	if err := checkReplaceable(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("tlsoverlay: %w", err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), ".tlsoverlay-")
	if err != nil {
		return nil, fmt.Errorf("tlsoverlay: %w", err)
	}
	defer os.RemoveAll(stage) // a no-op after the rename below
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, fmt.Errorf("tlsoverlay: %w", err)
	}

	replace := make(map[string]string, len(targets))
	for _, t := range targets {
		src := filepath.Join(tc.goroot, filepath.FromSlash(t.path))
		dst := filepath.Join(stage, filepath.FromSlash(t.path))
		if err := copyTarget(src, dst, t.isNew); err != nil {
			return nil, err
		}
		replace[src] = filepath.Join(out, filepath.FromSlash(t.path))
	}
	warnings, err := applyPatch(ctx, stage, patchFile, allowOffset)
	if err != nil {
		return warnings, err
	}
	data, err := json.MarshalIndent(struct{ Replace map[string]string }{replace}, "", "\t")
	if err != nil {
		return warnings, fmt.Errorf("tlsoverlay: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, overlayFile), append(data, '\n'), 0o644); err != nil {
		return warnings, fmt.Errorf("tlsoverlay: %w", err)
	}
	if err := os.RemoveAll(out); err != nil {
		return warnings, fmt.Errorf("tlsoverlay: %w", err)
	}
	if err := os.Rename(stage, out); err != nil {
		return warnings, fmt.Errorf("tlsoverlay: %w", err)
	}
	return warnings, nil
}

// checkReplaceable refuses to replace an existing directory that is neither
// empty nor an earlier output of this program.
func checkReplaceable(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tlsoverlay: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, overlayFile)); err != nil {
		return fmt.Errorf("tlsoverlay: %s is not empty and has no %s; refusing to replace it", out, overlayFile)
	}
	return nil
}

// copyTarget copies a GOROOT file into the staging tree, or, for a file the
// patch creates, checks that GOROOT does not already have it.
func copyTarget(src, dst string, isNew bool) error {
	data, err := os.ReadFile(src)
	switch {
	case isNew && err == nil:
		return fmt.Errorf("%w: the patch creates %s but the toolchain already has it", errPatchNotClean, src)
	case isNew && errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(filepath.Dir(dst), 0o755)
	case err != nil:
		return fmt.Errorf("tlsoverlay: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("tlsoverlay: %w", err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("tlsoverlay: %w", err)
	}
	return nil
}

// applyPatch runs patch(1) in dir with no fuzz and without touching anything
// it is not asked to. Offsets fail the run unless allowOffset is set, in which
// case they are returned as warnings.
func applyPatch(ctx context.Context, dir, patchFile string, allowOffset bool) ([]string, error) {
	if _, err := exec.LookPath("patch"); err != nil {
		return nil, fmt.Errorf("tlsoverlay: the patch command is required (apt-get install patch): %w", err)
	}
	abs, err := filepath.Abs(patchFile)
	if err != nil {
		return nil, fmt.Errorf("tlsoverlay: %w", err)
	}
	rejects := filepath.Join(dir, "rejects")
	// Short options only: GNU and BSD patch read them the same way.
	// -N: never reverse; -t: never ask; -F 0: no fuzz; -r: rejects off the tree.
	cmd := exec.CommandContext(ctx, "patch", "-p1", "-N", "-t", "-F", "0", "-r", rejects, "-d", dir, "-i", abs)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	runErr := cmd.Run()
	report := strings.TrimSpace(output.String())
	if runErr != nil {
		if rejected, err := os.ReadFile(rejects); err == nil && len(rejected) > 0 {
			report += "\nrejected hunks:\n" + strings.TrimSpace(string(rejected))
		}
		return nil, fmt.Errorf("%w: %s:\n%s\n(see docs/session-id.md, \"Updating the patch\"): %w", errPatchNotClean, patchFile, report, runErr)
	}
	offsets := offsetLine.FindAllString(report, -1)
	if len(offsets) > 0 && !allowOffset {
		return nil, fmt.Errorf("%w: %s applies only at shifted lines (the toolchain's files changed; review and regenerate the patch, or pass -allow-offset):\n%s",
			errPatchNotClean, patchFile, strings.Join(offsets, "\n"))
	}
	// Backups patch makes of files it applied with an offset.
	origs, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(patchDir), "*.orig"))
	for _, o := range origs {
		os.Remove(o)
	}
	os.Remove(rejects)
	return offsets, nil
}
