// Module dashboard generates the Grafana dashboard of config/grafana (make manifests) in
// a module of its own, so that the operator's module does not take the Grafana
// Foundation SDK as a dependency.
module github.com/oacapacity/oa-capacity-operator/hack/dashboard

go 1.26.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
