# The hotline daemon. Build from the repository root:
#   docker build -f deploy/hotline.Dockerfile -t hotline .
# (docker-compose.yml does this for you.)

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# A static binary: the runtime image has no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/hotline ./cmd/hotline

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hotline /usr/local/bin/hotline
# /etc/hotline holds hotline.yaml and the secret files; mount it read-only.
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/hotline"]
CMD ["serve", "--config", "/etc/hotline/hotline.yaml"]
