# tlsgate build entry points. See docs/session-id.md for the crypto/tls patch.

GO          ?= go
PKG         ?= ./cmd/tlsgate
BIN         ?= bin/tlsgate
OVERLAY_DIR ?= _build/overlay
OVERLAY     := $(OVERLAY_DIR)/overlay.json
# The version the binary reports (tlsgate version, --version, build info metric).
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
# The tag that compiles the code using Config.GetSessionByID/StoreSessionByID.
SESSIONID_TAG := tlsgate_sessionid

.PHONY: all build build-plain overlay test vet tls-patch-check clean

all: build

## overlay: copy and patch $GOROOT/src/crypto/tls into $(OVERLAY_DIR) (fails on an unsupported toolchain)
overlay:
	$(GO) run ./internal/cmd/tlsoverlay -out $(OVERLAY_DIR)

## build: the gateway with TLS 1.2 Session ID resumption (patched crypto/tls)
build: overlay
	$(GO) build -ldflags "$(LDFLAGS)" -overlay $(OVERLAY) -tags $(SESSIONID_TAG) -o $(BIN) $(PKG)

## build-plain: the gateway with the stock crypto/tls (tickets and TLS 1.3 PSK only)
build-plain:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) $(PKG)

## test: install what the tests drive (.ci/install), then every module's tests and the AssemblyScript SDK's
test:
	./.ci/install
	$(GO) test ./...
	cd abi && $(GO) test ./...
	cd guests/sdk/go && $(GO) test ./...
	cd guests/sdk/assemblyscript && npm test

## vet: go vet, plain and with the patched crypto/tls and the Session ID tag
vet: overlay
	$(GO) vet ./...
	$(GO) vet -overlay $(OVERLAY) -tags $(SESSIONID_TAG) ./...

## tls-patch-check: the standard library's crypto/tls tests and our client tests under the patch
tls-patch-check: overlay
	$(GO) test -short -overlay $(OVERLAY) crypto/tls
	$(GO) test -count=1 -overlay $(OVERLAY) -tags $(SESSIONID_TAG) ./internal/sessionidtest

clean:
	rm -rf _build bin
