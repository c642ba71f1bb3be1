package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// sealFormat is the first byte of every sealed blob; a new layout gets a new
// number so old blobs are refused, not misread.
const sealFormat = 1

// ErrUnsealable is returned when a blob does not open: wrong key, tampered,
// truncated, or sealed for another tenant or identifier.
var ErrUnsealable = errors.New("gateway: sealed session does not open")

// sealer seals session state with AES-256-GCM. Blob layout:
//
//	format(1) | len(keyID)(1) | keyID | nonce(12) | ciphertext+tag
//
// The AAD binds the purpose, the tenant and the identifier, so a blob moved
// to another tenant or another key in the store does not open.
type sealer struct {
	sealID string
	seal   cipher.AEAD
	open   map[string]cipher.AEAD
	// idKeys authenticate the identifiers the gateway issues as tickets,
	// one per sealing key (the first signs, all verify).
	idKeys [][]byte
}

// Identifier layout: 20 random bytes, then the first 12 bytes of
// HMAC-SHA256(idKey, "tlsgate-id/1" 0 tenant 0 random). A ticket a client
// made up, or one issued for another tenant, is recognised without asking
// the guest or the store anything.
const (
	idRandomLen = 20
	idMACLen    = ticketIDLen - idRandomLen
)

func newSealer(keys []config.SealingKey) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("gateway: no sealing keys")
	}
	s := &sealer{open: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("gateway: sealing.keys[%d]: want 32 bytes of base64", i)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("gateway: sealing.keys[%d]: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("gateway: sealing.keys[%d]: %w", i, err)
		}
		if i == 0 {
			s.sealID, s.seal = k.ID, aead
		}
		s.open[k.ID] = aead
		mac := hmac.New(sha256.New, raw)
		mac.Write([]byte("tlsgate identifier key/1"))
		s.idKeys = append(s.idKeys, mac.Sum(nil))
	}
	return s, nil
}

func idMAC(key []byte, tenant string, random []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tlsgate-id/1\x00"))
	m.Write([]byte(tenant))
	m.Write([]byte{0})
	m.Write(random)
	return m.Sum(nil)[:idMACLen]
}

// newIdentifier returns a fresh ticket identifier for tenant.
func (s *sealer) newIdentifier(tenant string) []byte {
	id := make([]byte, idRandomLen, ticketIDLen)
	if _, err := rand.Read(id); err != nil {
		panic("gateway: crypto/rand failed: " + err.Error())
	}
	return append(id, idMAC(s.idKeys[0], tenant, id)...)
}

// issued reports whether id is an identifier this fleet issued for tenant
// (under any of the configured keys).
func (s *sealer) issued(tenant string, id []byte) bool {
	if len(id) != ticketIDLen {
		return false
	}
	for _, k := range s.idKeys {
		if hmac.Equal(idMAC(k, tenant, id[:idRandomLen]), id[idRandomLen:]) {
			return true
		}
	}
	return false
}

// aad is "tlsgate-session/1" 0 purpose 0 tenant 0 id.
func aad(purpose, tenant string, id []byte) []byte {
	b := make([]byte, 0, 20+len(purpose)+len(tenant)+len(id))
	b = append(b, "tlsgate-session/1\x00"...)
	b = append(b, purpose...)
	b = append(b, 0)
	b = append(b, tenant...)
	b = append(b, 0)
	return append(b, id...)
}

func (s *sealer) sealBlob(plain []byte, purpose, tenant string, id []byte) []byte {
	out := make([]byte, 0, 2+len(s.sealID)+12+len(plain)+16)
	out = append(out, sealFormat, byte(len(s.sealID)))
	out = append(out, s.sealID...)
	nonce := out[len(out) : len(out)+12]
	if _, err := rand.Read(nonce); err != nil {
		panic("gateway: crypto/rand failed: " + err.Error())
	}
	out = out[:len(out)+12]
	return s.seal.Seal(out, nonce, plain, aad(purpose, tenant, id))
}

func (s *sealer) openBlob(blob []byte, purpose, tenant string, id []byte) ([]byte, error) {
	if len(blob) < 2 || blob[0] != sealFormat {
		return nil, ErrUnsealable
	}
	n := int(blob[1])
	if len(blob) < 2+n+12+16 {
		return nil, ErrUnsealable
	}
	aead, ok := s.open[string(blob[2:2+n])]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrUnsealable, blob[2:2+n])
	}
	nonce := blob[2+n : 2+n+12]
	plain, err := aead.Open(nil, nonce, blob[2+n+12:], aad(purpose, tenant, id))
	if err != nil {
		return nil, ErrUnsealable
	}
	return plain, nil
}
