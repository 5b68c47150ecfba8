# Builds the manager image: `docker build -t oa-capacity-operator:latest .`
FROM golang:1.26 AS builder
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /manager .

# The manager is a static binary; it needs no base image beyond CA certificates.
FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=builder /manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
