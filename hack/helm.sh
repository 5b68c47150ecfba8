#!/usr/bin/env bash
# Builds Helm from source through the Go module proxy, at the version pinned in
# hack/tools/helm, into a cache outside the clone, and prints the binary's path.
#
#   hack/helm.sh    build when missing, then print the path
#
# HELM_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/oa-capacity-operator/helm) is where
# builds are kept; each build's directory is named by the Helm version and a hash of the
# tools module, this script and the Go version, so a version bump builds anew and never
# reuses a stale one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/hack/tools/helm"

cache=${HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oa-capacity-operator/helm}
key=$( { cat "$src/go.mod" "$src/go.sum" "${BASH_SOURCE[0]}"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
read -r version kube < <(cd "$src" && go list -mod=readonly -m -f '{{.Version}}' helm.sh/helm/v3 k8s.io/client-go | paste -sd ' ')
dir="$cache/$version-$key"

if [[ -x "$dir/helm" ]]; then
	echo "$dir/helm"
	exit 0
fi

# The flags of Helm's own release builds: its version, and the Kubernetes version of its
# client-go (v0.37 = Kubernetes 1.37) as the default of .Capabilities.KubeVersion and of
# lint's deprecation checks, which are otherwise 1.20.
minor=$(cut -d. -f2 <<<"$kube")
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
for pkg in pkg/lint/rules pkg/chartutil; do
	ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$minor"
done

mkdir -p "$cache"
# Build into a scratch directory and rename it into place, so that an interrupted
# build is never mistaken for a finished one.
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "helm: building helm $version into $dir (once; about 4 minutes on 2 cores)" >&2
(cd "$src" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm)
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
	# Another build finished first; keep its result.
	[[ -x "$dir/helm" ]] || { echo "helm: cannot install into $dir" >&2; exit 1; }
fi
echo "$dir/helm"
