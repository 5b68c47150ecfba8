package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

type rule struct {
	Alert       string            `json:"alert"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type prometheusRule struct {
	Kind string `json:"kind"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// Every alert of config/prometheus has a duration, a severity, a summary and a
// description. That its query parses and names only metrics the manager serves is
// hack/promqlcheck's TestAlertRules, with Prometheus' own parser.
func TestPrometheusRule(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr prometheusRule
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if pr.Kind != "PrometheusRule" {
		t.Fatalf("kind %q", pr.Kind)
	}
	seen := map[string]bool{}
	var n int
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules are not expected)", g.Name)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s twice", r.Alert)
			}
			seen[r.Alert] = true
			if r.For == "" {
				t.Errorf("%s has no for:", r.Alert)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s has no %s", r.Alert, a)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

// The ServiceMonitor of config/prometheus selects the metrics Service of config/default
// and only it (not the callbacks Service), on its HTTPS port, with a bearer token.
func TestServiceMonitorSelectsTheMetricsService(t *testing.T) {
	var monitor struct {
		Kind string `json:"kind"`
		Spec struct {
			Endpoints []struct {
				Port            string `json:"port"`
				Scheme          string `json:"scheme"`
				Path            string `json:"path"`
				BearerTokenFile string `json:"bearerTokenFile"`
			} `json:"endpoints"`
			Selector metav1.LabelSelector `json:"selector"`
		} `json:"spec"`
	}
	for _, u := range decode(t, kustomize(t, "config/prometheus")) {
		if u.GetKind() != "ServiceMonitor" {
			continue
		}
		b, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &monitor); err != nil {
			t.Fatal(err)
		}
	}
	if monitor.Kind != "ServiceMonitor" || len(monitor.Spec.Endpoints) != 1 {
		t.Fatalf("want one ServiceMonitor with one endpoint: %+v", monitor)
	}
	ep := monitor.Spec.Endpoints[0]
	if ep.Scheme != "https" || ep.Path != "/metrics" || ep.BearerTokenFile == "" {
		t.Errorf("endpoint %+v, want https /metrics with a bearer token", ep)
	}
	sel, err := metav1.LabelSelectorAsSelector(&monitor.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %+v: %v", monitor.Spec.Selector, err)
	}
	var selected []string
	for _, s := range typed[corev1.Service](t, decode(t, kustomize(t, "config/default")), "Service") {
		if !sel.Matches(labels.Set(s.Labels)) {
			continue
		}
		selected = append(selected, s.Name)
		if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port && p.Port == 8443 }) {
			t.Errorf("Service %s has no port %q (8443): %+v", s.Name, ep.Port, s.Spec.Ports)
		}
	}
	if !slices.Equal(selected, []string{"oa-capacity-controller-manager-metrics"}) {
		t.Errorf("the ServiceMonitor selects %q, want the metrics Service only", selected)
	}
}
