// Package promqlcheck holds a test only: every PromQL expression of
// config/prometheus/prometheus_rule.yaml and config/grafana/*.json parses with
// Prometheus' parser, and every metric it names is one the operator serves.
// make test-rules runs it: cd hack/promqlcheck && go test ./...
package promqlcheck
