module github.com/tlsgate/tlsgate/abi

go 1.24
