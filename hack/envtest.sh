#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver and etcd) from source through the Go
# module proxy, into a cache outside the clone, and prints the directory that holds them.
#
#   hack/envtest.sh path    build when missing, then print the directory
#
# KUBEBUILDER_ASSETS, when set and holding both binaries, is used as it is.
# ENVTEST_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/oa-capacity-operator/envtest) is
# where builds are kept; each build's directory is named by a hash of the wrapper
# modules and the Go version, so a version bump builds anew and never reuses a stale one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/hack/envtest"

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
	echo "$KUBEBUILDER_ASSETS"
	exit 0
fi

cache=${ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oa-capacity-operator/envtest}
key=$( { cat "$src"/kube-apiserver/go.mod "$src"/kube-apiserver/go.sum "$src"/etcd/go.mod "$src"/etcd/go.sum "$src"/etcd/main.go; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
kube=$(sed -n 's/^require k8s.io\/kubernetes v//p' "$src/kube-apiserver/go.mod")
etcd=$(sed -n 's/^require go.etcd.io\/etcd\/server\/v3 v//p' "$src/etcd/go.mod")
dir="$cache/k8s-$kube-etcd-$etcd-$key"

if [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache"
# One build at a time: a second caller (another terminal, a parallel test run) waits
# for the first instead of compiling the same packages beside it, then finds its result.
exec 9>"$cache/.lock"
flock 9
if [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]]; then
	echo "$dir"
	exit 0
fi
# Build into a scratch directory and rename it into place, so that an interrupted
# build is never mistaken for a finished one.
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "envtest: building kube-apiserver v$kube and etcd v$etcd into $dir (once; about 5 minutes on 2 cores)" >&2
(cd "$src/kube-apiserver" && go build -mod=readonly -trimpath -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
(cd "$src/etcd" && go build -mod=readonly -trimpath -o "$tmp/etcd" .)
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
	# Another build finished first; keep its result.
	[[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]] || { echo "envtest: cannot install into $dir" >&2; exit 1; }
fi
echo "$dir"
