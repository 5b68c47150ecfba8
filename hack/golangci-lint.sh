#!/usr/bin/env bash
# Builds golangci-lint from source through the Go module proxy, at the version pinned in
# hack/tools/golangci-lint, into a cache outside the clone, and prints the binary's path.
#
#   hack/golangci-lint.sh    build when missing, then print the path
#
# GOLANGCI_LINT_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/oa-capacity-operator/golangci-lint)
# is where builds are kept; each build's directory is named by the version and a hash of
# the tools module, this script and the Go version, so a version bump builds anew and
# never reuses a stale one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/hack/tools/golangci-lint"

cache=${GOLANGCI_LINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oa-capacity-operator/golangci-lint}
key=$( { cat "$src/go.mod" "$src/go.sum" "${BASH_SOURCE[0]}"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
version=$(cd "$src" && go list -mod=readonly -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
dir="$cache-$version/$key"

if [[ -x "$dir/golangci-lint" ]]; then
	echo "$dir/golangci-lint"
	exit 0
fi

mkdir -p "$cache-$version"
# Build into a scratch directory and rename it into place, so that an interrupted
# build is never mistaken for a finished one.
tmp=$(mktemp -d "$cache-$version/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "golangci-lint: building $version into $dir (once; 4 minutes on 2 idle cores, 20 on busy ones)" >&2
# The version flags of golangci-lint's own release builds, so `golangci-lint version`
# names what it is.
(cd "$src" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w -X main.version=${version#v}" -o "$tmp/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
	# Another build finished first; keep its result.
	[[ -x "$dir/golangci-lint" ]] || { echo "golangci-lint: cannot install into $dir" >&2; exit 1; }
fi
echo "$dir/golangci-lint"
