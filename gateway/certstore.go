package gateway

import "github.com/tlsgate/tlsgate/gateway/natskv"

// purposeACMEKey seals the private keys the ACME certificate storage keeps
// in NATS (certificates' and ACME accounts'), bound to their storage key.
const purposeACMEKey = "acme-key"

// certSealer is the fleet's sealer (the one serving now: keys rotate) as
// natskv.CertStorage uses it.
type certSealer struct{ s func() *sealer }

var _ natskv.Sealer = certSealer{}

func (c certSealer) Seal(plain []byte, key string) []byte {
	return c.s().sealBlob(plain, purposeACMEKey, "", []byte(key))
}

func (c certSealer) Open(blob []byte, key string) ([]byte, error) {
	return c.s().openBlob(blob, purposeACMEKey, "", []byte(key))
}
