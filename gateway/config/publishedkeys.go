package config

import (
	"crypto/sha256"
	"encoding/hex"
)

// publishedKeys are the SHA-256 digests of sealing keys that were ever
// published with tlsgate (in its examples), with where. Anyone can read
// them, so anyone who can read a store of sessions sealed with them can
// decrypt TLS master secrets and PSKs: Validate refuses them. Add every key
// that is ever shown in an example here (a test holds the examples to it).
var publishedKeys = map[string]string{
	"7279428a0e70334b81137f603ff71865d8262bd3705b3b7038c7deab63a5fee6": "examples/fleet of tlsgate until 2026-12",
}

// publishedKey returns where raw was published, or "".
func publishedKey(raw []byte) string {
	sum := sha256.Sum256(raw)
	return publishedKeys[hex.EncodeToString(sum[:])]
}
