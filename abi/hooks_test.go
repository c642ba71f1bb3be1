package abi

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHooksMatchSpec checks that docs/abi.md, the normative text, and Hooks
// say the same: section 6's input table has a column per hook (by Name)
// whose "yes" cells are exactly that hook's Inputs, and section 2 names
// every hook's export.
func TestHooksMatchSpec(t *testing.T) {
	spec, err := os.ReadFile("../docs/abi.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(spec)
	header, rows := inputTable(t, text)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for i := range Hooks {
		h := &Hooks[i]
		if h.Export == "" {
			continue
		}
		if h.Call != CallKind(i) || HookFor(h.Call) != h {
			t.Errorf("Hooks[%d] is %q, with call kind %d", i, h.Export, h.Call)
		}
		if !strings.Contains(text, "`"+h.Export+"`") {
			t.Errorf("docs/abi.md never names the export %q", h.Export)
		}
		for _, fn := range h.Outputs {
			if !strings.Contains(text, "### `"+fn+" (") {
				t.Errorf("docs/abi.md section 5 does not specify %s, an output of %s", fn, h.Export)
			}
		}
		if !regexp.MustCompile("(?m)^\\| `" + strings.ToUpper(h.Name) + "` \\| " + strconv.Itoa(int(h.Call)) + "[ |]").MatchString(text) {
			t.Errorf("docs/abi.md section 7 does not give call kind %s the number %d", strings.ToUpper(h.Name), h.Call)
		}
		c, ok := col[h.Name]
		if !ok {
			t.Errorf("docs/abi.md section 6 has no column %q for %s (columns %q)", h.Name, h.Export, header)
			continue
		}
		for _, r := range rows {
			spec := r.cells[c] == "yes"
			if spec != h.Carries(r.kind) {
				t.Errorf("input %d (%s) in %s: docs/abi.md says %q, Hooks says carried=%v", r.kind, r.cells[1], h.Name, r.cells[c], h.Carries(r.kind))
			}
		}
	}
	if len(header)-3 != len(Hooks)-1 {
		t.Errorf("docs/abi.md section 6 has hook columns %q, Hooks has %d hooks", header[3:], len(Hooks)-1)
	}
	seen := map[InputKind]int{}
	for _, r := range rows {
		seen[r.kind]++
		if !r.kind.Known() {
			t.Errorf("docs/abi.md section 6 lists input %d, which abi does not know", r.kind)
		}
		for _, cell := range r.cells[3:] {
			if cell != "yes" && cell != "–" {
				t.Errorf("docs/abi.md section 6, input %d: cell %q, want yes or –", r.kind, cell)
			}
		}
	}
	for k := InputKind(1); k.Known(); k++ {
		if seen[k] != 1 {
			t.Errorf("input kind %d is in docs/abi.md section 6 %d times, want once", k, seen[k])
		}
	}
}

type inputRow struct {
	kind  InputKind
	cells []string // #, kind, encoding, then one per hook
}

// inputTable returns the header and rows of the first table of section 6.
func inputTable(t *testing.T, spec string) ([]string, []inputRow) {
	t.Helper()
	start := strings.Index(spec, "\n## 6. Inputs")
	if start < 0 {
		t.Fatal("docs/abi.md has no section \"6. Inputs\"")
	}
	var header []string
	var rows []inputRow
	for _, line := range strings.Split(spec[start+1:], "\n")[1:] { // after the heading
		if strings.HasPrefix(line, "## ") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			if header != nil {
				break // the end of the table
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells
		case strings.HasPrefix(cells[0], "---"):
		default:
			n, err := strconv.Atoi(cells[0])
			if err != nil || len(cells) != len(header) {
				t.Fatalf("docs/abi.md section 6: row %q", line)
			}
			rows = append(rows, inputRow{kind: InputKind(n), cells: cells})
		}
	}
	if len(header) < 4 {
		t.Fatalf("docs/abi.md section 6: header %q", header)
	}
	return header, rows
}
