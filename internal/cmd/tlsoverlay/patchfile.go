package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// patchDir is the only GOROOT directory the patch may touch.
const patchDir = "src/crypto/tls/"

// target is one file the patch changes, as a slash path relative to GOROOT.
type target struct {
	path  string // e.g. src/crypto/tls/common.go
	isNew bool   // the patch creates it ("--- /dev/null")
}

// readPatchTargets lists the files a unified diff with -p1 paths changes, and
// refuses any outside patchDir, so the overlay can never replace other parts
// of the standard library.
func readPatchTargets(patchFile string) ([]target, error) {
	f, err := os.Open(patchFile)
	if err != nil {
		return nil, fmt.Errorf("tlsoverlay: %w", err)
	}
	defer f.Close()

	var targets []target
	var from string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "--- "):
			from = headerPath(line[len("--- "):])
		case strings.HasPrefix(line, "+++ "):
			if from == "" {
				return nil, fmt.Errorf("tlsoverlay: %s:%d: +++ without a --- line", patchFile, n)
			}
			p, ok := strings.CutPrefix(headerPath(line[len("+++ "):]), "b/")
			if !ok || path.Clean(p) != p || !strings.HasPrefix(p, patchDir) || !strings.HasSuffix(p, ".go") {
				return nil, fmt.Errorf("tlsoverlay: %s:%d: %q is not a b/%s*.go path", patchFile, n, line, patchDir)
			}
			isNew := from == "/dev/null"
			if !isNew && from != "a/"+p {
				return nil, fmt.Errorf("tlsoverlay: %s:%d: --- %s does not match +++ b/%s", patchFile, n, from, p)
			}
			targets = append(targets, target{path: p, isNew: isNew})
			from = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tlsoverlay: %s: %w", patchFile, err)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("tlsoverlay: %s changes no files", patchFile)
	}
	return targets, nil
}

// headerPath drops the optional tab-separated timestamp of a diff header.
func headerPath(s string) string {
	p, _, _ := strings.Cut(s, "\t")
	return strings.TrimSpace(p)
}
