#!/usr/bin/env bash
# make run: the manager against the configured cluster (KUBECONFIG, ~/.kube/config or
# in-cluster), or, when there is none, against a local control plane with the CRDs and
# the sample installed (hack/localrun). Extra manager flags: make run ARGS="...".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# One replica, and metrics on plain http://:8080/metrics for curl (the deployed manager
# serves them over HTTPS to authorized ServiceAccounts only).
dev_flags=(--leader-elect=false --metrics-bind-address=:8080 --metrics-secure=false)

if [[ -n "${KUBECONFIG:-}" || -f "$HOME/.kube/config" || -n "${KUBERNETES_SERVICE_HOST:-}" ]]; then
	exec bin/manager "${dev_flags[@]}" "$@"
fi
# The local mode also accepts unsigned callbacks for resources without a callbackToken
# (its sample has one), for a quick curl.
exec bin/localrun -- bin/manager "${dev_flags[@]}" --callback-allow-unsigned "$@"
