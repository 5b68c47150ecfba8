#!/usr/bin/env bash
# make run: the manager against the configured cluster (KUBECONFIG, ~/.kube/config or
# in-cluster), or, when there is none, against a local control plane with the CRDs and
# the sample installed (hack/localrun). Extra manager flags: make run ARGS="...".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${KUBECONFIG:-}" || -f "$HOME/.kube/config" || -n "${KUBERNETES_SERVICE_HOST:-}" ]]; then
	exec bin/manager --leader-elect=false "$@"
fi
exec bin/localrun -- bin/manager --leader-elect=false "$@"
