# syntax=docker/dockerfile:1
#
# qredge container image: the static binaries on distroless, as a non-root
# user: qredge, and qredge-prescale beside it (the prescale CronJob runs it;
# 'qredge prescale' does too).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse --short HEAD) -t qredge .
#   docker run -p 8080:8080 -v qredge-data:/data qredge          # qredge serve
#   docker run qredge edge --redis redis:6379 --kafka kafka:9092  # or any subcommand
#
# The binaries are built by `make build`, the same command as outside Docker,
# so the flags (CGO_ENABLED=0, -trimpath, -ldflags) are defined once, in the
# Makefile. deploy/dockerfile_test.go checks this file and that `make build`
# gives static binaries.

# Keep the Go version in step with the go directive of go.mod (the test checks).
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, in their own layer: a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/root/.cache/go-build \
    make build VERSION=$VERSION COMMIT=$COMMIT
# The data directory of `qredge serve` (and the edge's spool): distroless
# has no shell to create it, so it is made here and copied with its owner.
RUN mkdir -p /out/data

# static-debian12 has CA certificates, tzdata and /etc/passwd with nonroot
# (65532), and nothing else: no shell, no package manager, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="qredge" \
      org.opencontainers.image.description="Edge redirects and QR codes" \
      org.opencontainers.image.source="https://github.com/qredge/qredge" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /src/bin/qredge /usr/local/bin/qredge
COPY --from=build /src/bin/qredge-prescale /usr/local/bin/qredge-prescale
COPY --from=build --chown=65532:65532 /out/data /data
# Relative defaults (./qredge-spool of qredge edge) land in the writable /data.
WORKDIR /data
USER 65532:65532
# serve and edge :8080 (scans), api :8081, admin: edge :9090, api :9091,
# analytics :9095, webhooks :9096 (/healthz, /readyz, /metrics). No
# HEALTHCHECK: there is no shell or HTTP client in the image; orchestrators
# probe /healthz and /readyz.
EXPOSE 8080 8081 9090 9091 9095 9096
VOLUME /data
ENTRYPOINT ["/usr/local/bin/qredge"]
CMD ["serve", "--data-dir", "/data"]
