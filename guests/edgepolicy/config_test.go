package main

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]byte("deny_ja4=a, b ;kv_deny=false\ncert.legacy.test=rsa; cert.*.shop.test=wild\n# note"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.denyJA4["a"] || !cfg.denyJA4["b"] || len(cfg.denyJA4) != 2 || cfg.kvDeny {
		t.Errorf("deny list %v, kv_deny %v", cfg.denyJA4, cfg.kvDeny)
	}
	for sni, want := range map[string]string{"legacy.test": "rsa", "LEGACY.test": "rsa", "a.shop.test": "wild", "a.b.shop.test": "", "shop.test": "", "": ""} {
		if got := cfg.certFor(sni); got != want {
			t.Errorf("certFor(%q) = %q, want %q", sni, got, want)
		}
	}
	for _, bad := range []string{"prefix=s/", "kv_deny=yes", "cert.=x", "cert.a.test=", "deny_ja4"} {
		if _, err := parseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "config:") {
			t.Errorf("%q: %v, want a config error", bad, err)
		}
	}
	if cfg, err := parseConfig(nil); err != nil || !cfg.kvDeny {
		t.Errorf("empty config: kv_deny %v, %v; want the default true", cfg.kvDeny, err)
	}
}
