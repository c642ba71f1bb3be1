module github.com/tlsgate/tlsgate/guests/sdk/go

go 1.24

require github.com/tlsgate/tlsgate/abi v1.1.0

// Inside the tlsgate repository the ABI module is the one beside it; a guest
// outside the repository requires a released version (docs/guests.md).
replace github.com/tlsgate/tlsgate/abi => ../../../abi
