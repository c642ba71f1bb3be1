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
	"sync/atomic"
	"time"

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
	origin byte // marks this gateway's identifiers (see issuedHere)
}

// Identifier layout: the issue time (Unix milliseconds, 6 bytes, big
// endian), a byte naming the issuing process (idOrigin, random per process,
// so a gateway knows its own identifiers, near enough), 13 random bytes,
// then the first 12 bytes of
// HMAC-SHA256(idKey, "tlsgate-id/1" 0 tenant 0 time random). A ticket a
// client made up, or one issued for another tenant, is recognised without
// asking the guest or the store anything; and a gateway that cannot find a
// session issued a moment ago by another gateway knows it may still be on
// its way to the store (see freshlyIssued).
const (
	idTimeLen   = 6
	idRandomLen = 20 // time and random: what the MAC covers
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
	ms := uint64(time.Now().UnixMilli())
	for i := range idTimeLen {
		id[i] = byte(ms >> (8 * (idTimeLen - 1 - i)))
	}
	id[idTimeLen] = s.origin
	if _, err := rand.Read(id[idTimeLen+1:]); err != nil {
		panic("gateway: crypto/rand failed: " + err.Error())
	}
	return append(id, idMAC(s.idKeys[0], tenant, id)...)
}

// origins numbers the gateways of this process from a random start, so
// up to 256 gateways in one process (tests, embedding) mark their
// identifiers apart.
var origins = func() *atomic.Uint32 {
	var b [1]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("gateway: crypto/rand failed: " + err.Error())
	}
	var n atomic.Uint32
	n.Store(uint32(b[0]))
	return &n
}()

// newOrigin draws the mark of a gateway's identifiers.
func newOrigin() byte { return byte(origins.Add(1)) }

// issuedHere reports whether id (one that issued accepts) was issued by
// this gateway, or (one in 256) by another that drew the same mark.
func (s *sealer) issuedHere(id []byte) bool { return id[idTimeLen] == s.origin }

// issuedAt returns when id (one that issued accepts) was issued, by the
// clock of the gateway that issued it.
func issuedAt(id []byte) time.Time {
	var ms uint64
	for _, b := range id[:idTimeLen] {
		ms = ms<<8 | uint64(b)
	}
	return time.UnixMilli(int64(ms))
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
