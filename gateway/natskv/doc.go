// Package natskv gives tlsgate's session guests a NATS JetStream key-value
// store: an embedded, in-process nats-server ([StartEmbedded]), a client that
// connects to it or to an external NATS ([Connect]), and a view per tenant
// ([Client.Bucket]) of one shared KV bucket of sessions, under the tenant's
// key prefix and with its quota, that implements wasmhost.KV.
//
// The store is an optimisation, never a dependency of a handshake: a client
// whose NATS is down still connects (it keeps retrying in the background), a
// bucket that cannot be created yet is created by a later operation, and
// meanwhile every operation fails fast with wasmhost.ErrUnavailable so the
// gateway does a full handshake.
package natskv
