# syntax=docker/dockerfile:1
# sessiond: static binary on distroless, running as non-root.
#   docker build --build-arg VERSION=$(git describe --always) -t sessiond .

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Module downloads in their own layer: rebuilt only when go.mod/go.sum change.
# (go.mod replaces the Go client's module by ./clients/go: its go.mod comes too.)
COPY go.mod go.sum ./
COPY clients/go/go.mod clients/go/
RUN go mod download
COPY . .
ARG VERSION=dev
# This go build line and the one in scripts/build-static.sh MUST stay identical
# (tests build the binary with that script).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sessiond ./cmd/server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sessiond /sessiond
USER nonroot:nonroot
EXPOSE 8080
ENV SESSIOND_ADDR=0.0.0.0:8080
# `sessiond healthcheck` GETs http://127.0.0.1:8080/healthz (no shell or curl in distroless).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/sessiond", "healthcheck"]
ENTRYPOINT ["/sessiond"]
CMD ["serve"]
