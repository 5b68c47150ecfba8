#!/usr/bin/env bash
# Builds Prometheus's promtool from source through the Go module proxy, at the version
# pinned in hack/tools/promtool, into a cache outside the clone, and prints the binary's
# path. make test-rules runs it over the alert rules.
#
#   hack/promtool.sh    build when missing, then print the path
#
# PROMTOOL_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/oa-capacity-operator) is where
# builds are kept, each in promtool-<version>-<hash>: the Prometheus version and a hash
# of the tools module, this script and the Go version, so a version bump builds anew and
# never reuses a stale one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/hack/tools/promtool"

cache=${PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oa-capacity-operator}
key=$( { cat "$src/go.mod" "$src/go.sum" "${BASH_SOURCE[0]}"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
# Prometheus 3.x is tagged v0.3YY.Z in Go (the module has no /v3 path): v0.316.0 is 3.16.0.
version=$(cd "$src" && go list -mod=readonly -m -f '{{.Version}}' github.com/prometheus/prometheus)
dir="$cache/promtool-$version-$key"

if [[ -x "$dir/promtool" ]]; then
	echo "$dir/promtool"
	exit 0
fi

mkdir -p "$cache"
# One build at a time: a second caller (another terminal, a parallel test run) waits
# for the first instead of compiling the same packages beside it, then finds its result.
exec 9>"$cache/.promtool.lock"
flock 9
if [[ -x "$dir/promtool" ]]; then
	echo "$dir/promtool"
	exit 0
fi

# promtool --version reports what Prometheus's release builds report.
release=$(sed -E 's/^v0\.([0-9])([0-9]{2})\.(.*)$/\1.\2.\3/; s/^([0-9]+)\.0([0-9])/\1.\2/' <<<"$version")
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"

# Build into a scratch directory and rename it into place, so that an interrupted
# build is never mistaken for a finished one.
tmp=$(mktemp -d "$cache/.promtool-build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "promtool: building promtool $release ($version) into $dir (once; about 10 minutes on 2 cores)" >&2
(cd "$src" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$tmp/promtool" github.com/prometheus/prometheus/cmd/promtool)
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
	# Another build finished first; keep its result.
	[[ -x "$dir/promtool" ]] || { echo "promtool: cannot install into $dir" >&2; exit 1; }
fi
echo "$dir/promtool"
