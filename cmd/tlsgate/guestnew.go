package main

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/gateway"
)

// templates are the starting points of `tlsgate guest new`, one directory
// per language; a file's name without ".tmpl" is where it goes (index.ts
// under assembly/).
//
//go:embed templates
var templates embed.FS

// ascVersion is the AssemblyScript compiler a new guest pins: the SDK's own
// (guests/sdk/assemblyscript/package.json; a test keeps them equal).
const ascVersion = "0.28.20"

var guestNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

func newGuestNew() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Write a new session guest (Go or AssemblyScript) into directory NAME",
		Long: "Writes a session cache guest that builds, passes tlsgate's conformance kit and loads in tlsgate check, " +
			"as a starting point: Go (a module requiring the Go SDK) or AssemblyScript (an npm package using the " +
			"AssemblyScript SDK). Until the SDKs are published, --tlsgate names a tlsgate checkout to build against " +
			"(default: the one the working directory is in, if any).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			lang, _ := cmd.Flags().GetString("lang")
			module, _ := cmd.Flags().GetString("module")
			checkout, _ := cmd.Flags().GetString("tlsgate")
			if !guestNameRE.MatchString(filepath.Base(name)) {
				return &exitError{code: 2, err: fmt.Errorf("guest new: name %q: want a lower-case letter, then up to 63 of [a-z0-9_-]", filepath.Base(name))}
			}
			if lang != "go" && lang != "assemblyscript" {
				return &exitError{code: 2, err: fmt.Errorf("guest new: --lang %q: want go or assemblyscript", lang)}
			}
			if checkout == "" {
				checkout = findCheckout()
			}
			if checkout != "" {
				abs, err := filepath.Abs(checkout)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				if _, err := os.Stat(filepath.Join(abs, "guests", "sdk")); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("guest new: --tlsgate %s: not a tlsgate checkout (no guests/sdk)", checkout)}
				}
				checkout = filepath.ToSlash(abs)
			}
			if module == "" {
				module = "example.com/" + filepath.Base(name)
			}
			files, err := renderGuest(lang, guestTemplateData{Name: filepath.Base(name), Module: module, TLSGate: checkout, ASCVersion: ascVersion})
			if err != nil {
				return err
			}
			if _, err := os.Stat(name); err == nil {
				return &exitError{code: 2, err: fmt.Errorf("guest new: %s exists; nothing written", name)}
			}
			for rel, body := range files {
				p := filepath.Join(name, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(p, body, 0o644); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s (%s guest)\n", name, lang)
			if checkout == "" {
				fmt.Fprintln(out, "note: no tlsgate checkout found: it builds against the released SDK versions (use --tlsgate DIR otherwise)")
			}
			switch lang {
			case "go":
				fmt.Fprintf(out, "build: cd %s && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o %s.wasm .\n", name, filepath.Base(name))
			default:
				fmt.Fprintf(out, "build: cd %s && npm install && npm run build\n", name)
			}
			fmt.Fprintf(out, "check: tlsgate guest check %s/%s.wasm\n", name, filepath.Base(name))
			return nil
		},
	}
	cmd.Flags().String("lang", "go", "the guest's language: go or assemblyscript")
	cmd.Flags().String("module", "", "Go module path (default example.com/NAME)")
	cmd.Flags().String("tlsgate", "", "a tlsgate checkout whose SDK the guest builds against (default: the one the working directory is in)")
	return cmd
}

type guestTemplateData struct {
	Name, Module, TLSGate, ASCVersion string
}

// renderGuest renders the templates of lang: relative path -> contents.
func renderGuest(lang string, data guestTemplateData) (map[string][]byte, error) {
	dir := "templates/" + lang
	out := map[string][]byte{}
	err := fs.WalkDir(templates, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(path.Base(p)).Parse(string(src))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, dir+"/"), ".tmpl")
		if strings.HasSuffix(rel, ".ts") {
			rel = "assembly/" + rel
		}
		out[rel] = b.Bytes()
		return nil
	})
	return out, err
}

// findCheckout returns the tlsgate checkout the working directory is in, or "".
func findCheckout() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/tlsgate/tlsgate\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func newGuestCheck() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check FILE.wasm",
		Short: "Check a guest module against the ABI and start one instance of it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			guestConfig, _ := cmd.Flags().GetString("guest-config")
			hooks, err := gateway.CheckGuestModule(cmd.Context(), args[0], wasm, []byte(guestConfig))
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%s refused: %w", args[0], err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s)\n", args[0], hooks)
			return nil
		},
	}
	cmd.Flags().String("guest-config", "", "guest config to run tlsgate_on_init with")
	return cmd
}
