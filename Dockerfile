# tlsgate in a container: a static binary built with `make build` (the
# patched crypto/tls, so TLS 1.2 Session ID resumption is in) and the
# version it was built from, on a distroless base with no shell.
#
#   docker build -t tlsgate --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -p 443:8443 -v tlsgate-data:/var/lib/tlsgate \
#     -v $PWD/tlsgate.yaml:/etc/tlsgate/tlsgate.yaml:ro tlsgate
#
# The configuration's listeners must bind 0.0.0.0 (not the default
# 127.0.0.1) to be reachable from outside the container; the admin
# listener stays on loopback unless you publish it on purpose.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY abi/go.mod abi/
COPY guests/sdk/go/go.mod guests/sdk/go/go.sum* guests/sdk/go/
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 make build VERSION=$VERSION BIN=/out/tlsgate && mkdir -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tlsgate /usr/local/bin/tlsgate
COPY --from=build --chown=65532:65532 /out/data /var/lib/tlsgate
# The data dir keeps the sealing key, NKey seeds, generated certificates and
# the embedded NATS store: mount a volume there.
ENV TLSGATE_DATA_DIR=/var/lib/tlsgate
VOLUME /var/lib/tlsgate
EXPOSE 8443
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/tlsgate"]
CMD ["serve", "--config", "/etc/tlsgate/tlsgate.yaml", "--log-format", "json"]
