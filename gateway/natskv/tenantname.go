package natskv

import (
	"errors"
	"fmt"
)

// ErrInvalidTenant is wrapped by the error of Client.Bucket and
// ValidateTenant for a tenant name that cannot be a key prefix.
var ErrInvalidTenant = errors.New("natskv: invalid tenant name")

// maxTenantLen is the longest tenant name.
const maxTenantLen = 64

// ValidateTenant checks that tenant is 1 to 64 characters of A-Z, a-z, 0-9,
// '_' and '-', the names that make key prefixes no other tenant's key can fall under
// (there is no '.'). The error wraps
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
