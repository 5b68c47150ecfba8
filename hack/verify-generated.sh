#!/usr/bin/env bash
# Fails when the generated files in the working tree (CRDs, RBAC, deepcopy, the Grafana
# dashboard, the Helm chart) differ from what controller-gen, hack/dashboard and
# hack/chartgen make of the sources. It generates into a scratch copy, so the working
# tree is never touched.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gen=${CONTROLLER_GEN:?CONTROLLER_GEN must name the controller-gen binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$root"
# Tracked and new (not ignored) files, as they are now; deleted ones are skipped.
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
	tar --null -T - -cf - | tar -xf - -C "$tmp"

make -s -C "$tmp" manifests generate CONTROLLER_GEN="$gen" >/dev/null

stale=0
for d in config/crd/bases config/rbac config/grafana api charts; do
	if ! diff -r -q "$root/$d" "$tmp/$d" >/dev/null; then
		diff -r -u "$root/$d" "$tmp/$d" | head -40 >&2 || true
		stale=1
	fi
done
if [[ $stale -ne 0 ]]; then
	echo "generated files are out of date: run 'make manifests generate' and commit the result" >&2
	exit 1
fi
