package config

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// curveNames are the key exchanges a tenant's curve_preferences may name.
var curveNames = map[string]tls.CurveID{
	"x25519mlkem768":     tls.X25519MLKEM768,
	"secp256r1mlkem768":  tls.SecP256r1MLKEM768,
	"secp384r1mlkem1024": tls.SecP384r1MLKEM1024,
	"x25519":             tls.X25519,
	"p256":               tls.CurveP256,
	"p384":               tls.CurveP384,
	"p521":               tls.CurveP521,
}

// CurveIDs maps curve_preferences names (case and '-' ignored: "P-256" is
// P256) to crypto/tls's; nil for none. The names must have passed
// validation.
func CurveIDs(names []string) []tls.CurveID {
	var out []tls.CurveID
	for _, n := range names {
		if id, ok := curveNames[curveKey(n)]; ok {
			out = append(out, id)
		}
	}
	return out
}

func curveKey(name string) string { return strings.ToLower(strings.ReplaceAll(name, "-", "")) }

// checkCurves reports the first unknown or repeated name: its index and
// what is wrong (ok: none).
func checkCurves(names []string) (i int, msg string, ok bool) {
	seen := map[tls.CurveID]bool{}
	for i, n := range names {
		id, known := curveNames[curveKey(n)]
		switch {
		case !known:
			return i, fmt.Sprintf("%q is not one of X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, P256, P384, P521", n), false
		case seen[id]:
			return i, fmt.Sprintf("%q is named twice", n), false
		}
		seen[id] = true
	}
	return 0, "", true
}
