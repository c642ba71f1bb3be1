package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"
)

// A document is decoded in steps that each report every problem they
// find, so that one run names them all: the YAML itself (a syntax error
// stops there: nothing else can be read), then unknown keys and values of
// the wrong type, then validation. Problems name the file and line where
// the field is, as well as its path.

// doc is a YAML document's source, for the line of a field path.
type doc struct {
	name string    // the file, as errors name it
	ast  *ast.File // nil when the document did not come from YAML text
}

// loadYAML loads data into k and returns its doc. A syntax error is
// reported where it is: the YAML decoder koanf uses decides what parses,
// and goccy/go-yaml, whose positions are exact, says where.
func loadYAML(k *koanf.Koanf, name string, data []byte) (*doc, error) {
	f, perr := parser.ParseBytes(data, 0)
	if err := k.Load(bytesProvider(data), yaml.Parser()); err != nil {
		if perr != nil {
			return nil, fmt.Errorf("%s", yamlError(name, perr))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &doc{name: name}
	if perr == nil {
		d.ast = f
	}
	return d, nil
}

var yamlPosRE = regexp.MustCompile(`^\[(\d+):(\d+)\] `)

// yamlError is a goccy/go-yaml error as "name:line:column: message", with
// the lines around it.
func yamlError(name string, err error) string {
	s := goyaml.FormatError(err, false, true)
	if m := yamlPosRE.FindStringSubmatch(s); m != nil {
		return name + ":" + m[1] + ":" + m[2] + ": " + s[len(m[0]):]
	}
	return name + ": " + s
}

// line returns the line of path ("tenants[1].server_name") in the
// document, or of its nearest ancestor there; 0 if none is.
func (d *doc) line(path string) int {
	if d == nil || d.ast == nil {
		return 0
	}
	for p := path; p != ""; p = parentPath(p) {
		yp, err := goyaml.PathString("$." + p)
		if err != nil {
			continue
		}
		n, err := yp.FilterFile(d.ast)
		if err != nil || n == nil || n.GetToken() == nil {
			continue
		}
		return n.GetToken().Position.Line
	}
	return 0
}

// parentPath is path without its last element: "a.b[2]" -> "a.b" -> "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i > 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i > 0 {
		return p[:i]
	}
	return ""
}

// place sets the file and line of every FieldError of errs whose field is
// in d (a FieldError already placed keeps its place); always names d's
// file even for a field it does not find (a tenant document's own
// problems).
func (d *doc) place(errs []error, always bool) {
	if d == nil {
		return
	}
	for _, err := range errs {
		var fe *FieldError
		if !errors.As(err, &fe) || fe.File != "" {
			continue
		}
		if l := d.line(fe.Path); l > 0 || always {
			fe.File, fe.Line = d.name, l
		}
	}
}

// decode decodes raw (koanf's nested maps) into result, a pointer to a
// struct with koanf tags, and returns every problem: keys no field has
// (with the closest field's name when there is one), values of the wrong
// type, durations given as bare numbers. What could be decoded is decoded.
// prefix leads the field paths ("" for a whole document).
func decode(raw map[string]any, result any, prefix string) []error {
	var p problems
	unknownKeys(&p, raw, reflect.TypeOf(result).Elem(), prefix)
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           result,
		TagName:          "koanf",
		WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			bareDurationHook,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		panic(err) // a programming error: the config is fixed
	}
	if err := dec.Decode(raw); err != nil {
		for _, l := range decodeLeaves(err) {
			path := l.name
			if prefix != "" {
				path = strings.TrimSuffix(prefix+"."+path, ".")
			}
			p.add(path, "%s", l.msg)
		}
	}
	return p
}

// bareDurationHook refuses a number where a duration is expected, in YAML
// or as a string (an environment variable): "24" would be 24 nanoseconds.
// 0 stays allowed (it means the default).
func bareDurationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	if str, ok := data.(string); ok { // from the environment, or quoted
		if f, err := strconv.ParseFloat(strings.TrimSpace(str), 64); err == nil {
			if f == 0 {
				return time.Duration(0), nil
			}
			return nil, fmt.Errorf("%q is a number without a unit: give a duration such as %ss, %sm or %sms", str, str, str, str)
		}
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		v := reflect.ValueOf(data)
		if v.IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is a number without a unit: give a duration such as %vs, %vm or %vms", data, data, data, data)
	}
	return data, nil
}

type decodeLeaf struct{ name, msg string }

// decodeLeaves flattens mapstructure's errors into one per field.
func decodeLeaves(err error) []decodeLeaf {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []decodeLeaf
		for _, e := range j.Unwrap() {
			out = append(out, decodeLeaves(e)...)
		}
		return out
	}
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		inner := de.Unwrap()
		var nested *mapstructure.DecodeError
		if errors.As(inner, &nested) || isJoined(inner) {
			return decodeLeaves(inner)
		}
		return []decodeLeaf{{name: de.Name(), msg: decodeMessage(inner)}}
	}
	if w := errors.Unwrap(err); w != nil {
		return decodeLeaves(w)
	}
	return []decodeLeaf{{msg: err.Error()}}
}

func isJoined(err error) bool {
	_, ok := err.(interface{ Unwrap() []error })
	return ok
}

var decodingRE = regexp.MustCompile(`^error decoding '[^']*': `)

// decodeMessage is mapstructure's message for a field, without the field
// it already named.
func decodeMessage(err error) string {
	return decodingRE.ReplaceAllString(err.Error(), "")
}

// unknownKeys adds a problem for every key of raw that no field of t (a
// struct) has, recursing into the fields that are structs, pointers to
// them, slices of them and maps of them.
func unknownKeys(p *problems, raw any, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return
		}
		fields := koanfFields(t)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			f, ok := fields[k]
			if !ok {
				msg := "unknown key"
				if s := closest(k, fields); s != "" {
					msg += "; did you mean " + s + "?"
				}
				p.add(join(k), "%s", msg)
				continue
			}
			unknownKeys(p, m[k], f, join(k))
		}
	case reflect.Slice:
		if l, ok := raw.([]any); ok {
			for i, v := range l {
				unknownKeys(p, v, t.Elem(), path+"["+strconv.Itoa(i)+"]")
			}
		}
	case reflect.Map:
		if m, ok := raw.(map[string]any); ok && t.Key().Kind() == reflect.String {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				unknownKeys(p, m[k], t.Elem(), join(k))
			}
		}
	}
}

// koanfFields maps the koanf keys of struct t to their types, squashed
// embedded structs included.
func koanfFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case opts == "squash":
			for k, v := range koanfFields(f.Type) {
				out[k] = v
			}
		case name != "" && name != "-":
			out[name] = f.Type
		}
	}
	return out
}

// closest is the key of fields nearest to k, if it is near enough to be a
// typo of it: two edits at most, or k with a letter or two left off.
func closest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		if d := editDistance(k, f); d < bestD {
			best, bestD = f, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
