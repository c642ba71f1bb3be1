package natskv

import (
	"errors"
	"fmt"
)

// ErrInvalidTenant is wrapped by the error of Client.Bucket and
// ValidateTenant for a tenant name that cannot name a bucket.
var ErrInvalidTenant = errors.New("natskv: invalid tenant name")

// bucketPrefix starts every tenant's bucket name.
const bucketPrefix = "tlsgate_sessions_"

// maxTenantLen is the longest tenant name.
const maxTenantLen = 64

// BucketName returns the name of tenant's KV bucket:
// "tlsgate_sessions_<tenant>". It does not validate tenant.
func BucketName(tenant string) string { return bucketPrefix + tenant }

// ValidateTenant checks that tenant is 1 to 64 characters of A-Z, a-z, 0-9,
// '_' and '-', the names that make valid bucket names. The error wraps
// ErrInvalidTenant.
func ValidateTenant(tenant string) error {
	if tenant == "" || len(tenant) > maxTenantLen {
		return fmt.Errorf("%w %q: want 1 to %d characters", ErrInvalidTenant, tenant, maxTenantLen)
	}
	for i := 0; i < len(tenant); i++ {
		switch c := tenant[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return fmt.Errorf("%w %q: only A-Z, a-z, 0-9, '_' and '-' are allowed", ErrInvalidTenant, tenant)
		}
	}
	return nil
}
