package natskv

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Role is what a user of the embedded server's client port may do.
type Role string

const (
	// RoleGateway is a gateway of the fleet: it may read and write the
	// sessions bucket and read the deployed guest modules and the tenant
	// registry, but it may not write those, nor create, change, purge or
	// delete any stream.
	RoleGateway Role = "gateway"
	// RoleDeployer may do everything: deploy guest modules (tlsgate guest
	// push), change the tenant registry (tlsgate tenant), and create the
	// buckets. The gateway that embeds the server connects as one.
	RoleDeployer Role = "deployer"
)

// permissions returns what role may publish and subscribe to. A gateway
// may publish anything but writes to the guest object store and the
// registry's buckets, and the JetStream API calls that change streams.
func (r Role) permissions() (*server.Permissions, error) {
	switch r {
	case RoleDeployer:
		return nil, nil // everything
	case RoleGateway:
		// No stream or account change at all: a user that may create or
		// update any stream could give it a republish (or source) rule
		// into the registry's or the guests' subjects, which the server
		// does not check against the user's permissions. The sessions
		// bucket is created by the gateway that embeds the server, which
		// connects in-process as a deployer.
		// Of the certificate bucket, gateways write the ACME storage
		// (CertStorage) and not the registry's keys; its stream allows
		// no rollups (certsNoRollup), which would reach past them.
		// Keys of one or two tokens are denied too: the registry's keys
		// of an earlier version (<tenant>.<sha256>, until a deployer
		// converts the bucket), and a key such as ">" that would trip
		// the conversion's listing; ACME's keys have three or more.
		deny := []string{"$O." + GuestBucket + ".>", "$KV." + TenantsBucket + ".>", "$KV." + CertsBucket + "." + registryCertPrefix + ">",
			"$KV." + CertsBucket + ".*", "$KV." + CertsBucket + ".*.*",
			"$JS.API.META.>", "$JS.API.ACCOUNT.>", "$JS.API.STREAM.TEMPLATE.>",
			"$JS.API.STREAM.LEADER.STEPDOWN.*", "$JS.API.STREAM.PEER.REMOVE.*"}
		for _, op := range []string{"CREATE", "UPDATE", "DELETE", "PURGE", "RESTORE", "MSG.DELETE"} {
			deny = append(deny, "$JS.API.STREAM."+op+".*")
		}
		return &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: deny}}, nil
	default:
		return nil, fmt.Errorf("natskv: role %q is not one of %s, %s", r, RoleGateway, RoleDeployer)
	}
}

// ErrSeedFile is wrapped by LoadOrCreateNkey for a seed file that exists
// but is no NKey user seed, or that others can read.
var ErrSeedFile = errors.New("natskv: bad NKey seed file")

// LoadOrCreateNkey returns the public key of the NKey user seed kept in
// path, generating a new seed there (mode 0600, directories 0700) when the
// file does not exist. Clients authenticate with the file through
// WithNkeySeedFile. Errors: an unreadable file, one that holds no user seed
// or is readable by group or others (wrapping ErrSeedFile), or a failed
// write.
func LoadOrCreateNkey(path string) (string, error) {
	pub, err := NkeyPublic(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createNkey(path)
	}
	return pub, err
}

// NkeyPublic returns the public key of the NKey user seed in path, with
// the errors of LoadOrCreateNkey; a missing file wraps fs.ErrNotExist.
func NkeyPublic(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("natskv: nkey seed: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s is mode %04o; want 0600 (a seed is a password)", ErrSeedFile, path, fi.Mode().Perm())
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSeedFile, path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("%w: %s holds no user seed (SU...)", ErrSeedFile, path)
	}
	return pub, nil
}

func createNkey(path string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", fmt.Errorf("natskv: nkey: %w", err)
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return "", fmt.Errorf("natskv: nkey: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("natskv: nkey: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("natskv: nkey seed: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("natskv: nkey seed: %w", err)
	}
	_, werr := f.Write(append(seed, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("natskv: nkey seed: %w", werr)
	}
	return pub, nil
}
