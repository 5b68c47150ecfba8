package main

import (
	"bytes"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// chartVersion is the chart's version; bump it with a change of the chart that a
// release should carry.
const chartVersion = "0.1.0"

// chartFiles returns Chart.yaml, values.yaml and values.schema.json, with the values
// found in the renders as defaults.
func chartFiles(d defaults) map[string][]byte {
	resources, err := yaml.Marshal(d.Resources)
	if err != nil {
		panic(err) // decoded from YAML, it marshals again
	}
	data := struct {
		defaults
		Version, ResourcesYAML string
	}{d, chartVersion, strings.TrimSuffix(indentLines(string(resources), "  "), "\n")}
	files := map[string][]byte{"values.schema.json": []byte(valuesSchema)}
	for name, t := range map[string]*template.Template{"Chart.yaml": chartYAML, "values.yaml": valuesYAML} {
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			panic(err) // the templates are constants
		}
		files[name] = b.Bytes()
	}
	return files
}

func indentLines(s, ind string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = ind + l
		}
	}
	return strings.Join(lines, "")
}

var chartYAML = template.Must(template.New("Chart.yaml").Parse(generatedHeader + `apiVersion: v2
name: oa-capacity-operator
description: >-
  The webhook of Tencent Cloud Chat's "Official Account full" callback: moves new
  subscribers to an account with room (raises the limit, fails over, creates an account)
  and tells the owners.
type: application
version: {{ .Version }}
appVersion: {{ printf "%q" .Tag }}
`))

// valuesYAML is values.yaml; docs/operations.md has the same values in a table.
var valuesYAML = template.Must(template.New("values.yaml").Parse(generatedHeader +
	`# The defaults render what dist/install.yaml holds (docs/operations.md says what differs).

image:
  repository: {{ .Repository }}
  tag: {{ printf "%q" .Tag }}
  # Empty leaves it to Kubernetes: Always for the tag latest, else IfNotPresent.
  pullPolicy: {{ printf "%q" .PullPolicy }}

# Every replica serves callbacks; the one holding the leader Lease acts on them.
replicas: {{ .Replicas }}

# The manager container's requests and limits.
resources:
{{ .ResourcesYAML }}

# More manager flags, after the chart's own (a flag given twice takes the last value),
# e.g. [--zap-log-level=debug, --callback-queue-size=20000].
extraArgs: []

metrics:
  # true: HTTPS on port 8443, to callers the API server authenticates and authorizes
  # (bound to the ClusterRole oa-capacity-metrics-reader). false: plain HTTP to anyone
  # who can reach the pod, for development only.
  secure: true
  # A ServiceMonitor for the Prometheus Operator (its CRDs must be installed).
  serviceMonitor:
    enabled: false
    # Labels added to it, e.g. the one the Prometheus' serviceMonitorSelector matches.
    labels: {}

# The operator's alerts (docs/operations.md) as a PrometheusRule.
prometheusRule:
  enabled: false
  # Labels added to it, e.g. the one the Prometheus' ruleSelector matches.
  labels: {}

# The manager serves callbacks over TLS itself, on port 443 of the callbacks Service,
# with the kubernetes.io/tls Secret secretName of the release namespace (create it
# first; the pods wait for it). As config/overlays/callback-tls.
callbackTLS:
  enabled: false
  secretName: {{ .CallbackTLSSecret }}

# The Grafana dashboard as a ConfigMap labelled grafana_dashboard: "1", for Grafana's
# dashboard sidecar.
dashboard:
  enabled: false
  # The namespace the sidecar watches; empty is the release namespace.
  namespace: ""

crds:
  # Install and upgrade the OfficialAccountCapacity CRD with the release. Turn it off
  # when the CRD is managed apart (make install).
  install: true
  # Leave the CRD in place on helm uninstall: deleting it deletes every
  # OfficialAccountCapacity with it.
  keep: true
`))

// valuesSchema lets helm refuse values of the wrong type, and misspelt ones, with a
// message that names them.
const valuesSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "global": {"type": "object"},
    "image": {
      "type": "object",
      "additionalProperties": false,
      "required": ["repository", "tag"],
      "properties": {
        "repository": {"type": "string", "minLength": 1},
        "tag": {"type": "string", "minLength": 1},
        "pullPolicy": {"enum": ["", "Always", "IfNotPresent", "Never"]}
      }
    },
    "replicas": {"type": "integer", "minimum": 0},
    "resources": {"type": "object"},
    "extraArgs": {"type": "array", "items": {"type": "string", "pattern": "^--"}},
    "metrics": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "secure": {"type": "boolean"},
        "serviceMonitor": {"$ref": "#/definitions/labelled"}
      }
    },
    "prometheusRule": {"$ref": "#/definitions/labelled"},
    "callbackTLS": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "secretName": {"type": "string", "minLength": 1}
      }
    },
    "dashboard": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "namespace": {"type": "string"}
      }
    },
    "crds": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "install": {"type": "boolean"},
        "keep": {"type": "boolean"}
      }
    }
  },
  "definitions": {
    "labelled": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    }
  }
}
`
