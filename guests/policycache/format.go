package main

// String describes the policy for the init log line, e.g.
// `prefix="p/" max_ttl=1h0m0s min_version=TLS 1.3`.
func (p policy) String() string {
	ttl := "none"
	if p.maxTTL > 0 {
		ttl = p.maxTTL.String()
	}
	return "prefix=" + quote(p.prefix) + " max_ttl=" + ttl + " min_version=" + versionName(p.minVersion)
}

// versionName names a TLS version input: "TLS 1.2", "TLS 1.3" or "TLS 0x0301".
func versionName(v uint16) string {
	switch v {
	case versionTLS12:
		return "TLS 1.2"
	case versionTLS13:
		return "TLS 1.3"
	}
	return "TLS 0x" + hex([]byte{byte(v >> 8), byte(v)})
}

// shortHex is the hex of the first 4 bytes of an identifier, for logs: enough
// to follow one session, too little to replay it.
func shortHex(id []byte) string {
	if len(id) > 4 {
		id = id[:4]
	}
	return hex(id)
}

func hex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}
