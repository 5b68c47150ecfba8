package promqlcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/oacapacity/oa-capacity-operator/test/metricnames"
)

// The repository's root, from this module's directory.
const root = "../.."

// registered reports whether the manager serves a metric of that name: one of the
// operator's collectors (the controller's and the callback receiver's, as the manager
// builds them), one of controller-runtime's registry (served on the same endpoint:
// work queue, reconciles, leader election, REST client), or Prometheus' own up.
// Histograms' series have the suffixes _bucket, _sum and _count.
func registered(t *testing.T) func(name string) bool {
	t.Helper()
	own, err := metricnames.Operator()
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) bool {
		if name == "up" {
			return true
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			if ok && (own[base] || metricnames.InControllerRuntime(base)) {
				return true
			}
		}
		return false
	}
}

// Grafana's interval variables, which PromQL does not know, as a duration it does.
var grafanaIntervals = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

var promql = parser.NewParser(parser.Options{})

// check parses expr and returns an error for a parse failure and for each metric
// it selects that known does not know, or a selector without a metric name.
func check(expr string, known func(string) bool) []error {
	e, err := promql.ParseExpr(grafanaIntervals.Replace(expr))
	if err != nil {
		return []error{fmt.Errorf("parse %q: %w", expr, err)}
	}
	var errs []error
	var selectors int
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		selectors++
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("%q: selector %s names no metric", expr, vs))
		case !known(name):
			errs = append(errs, fmt.Errorf("%q: %s is not a metric the operator serves", expr, name))
		}
		return nil
	})
	if selectors == 0 {
		errs = append(errs, fmt.Errorf("%q selects no metric", expr))
	}
	return errs
}

// The check itself fails on what it is there to catch.
func TestCheckFails(t *testing.T) {
	known := func(name string) bool { return name == "a_total" }
	for _, tc := range []struct{ expr, want string }{
		{`sum(rate(a_total[5m])`, "parse"},
		{`rate(a_total[5m]) / rate(b_total[5m])`, "b_total is not a metric"},
		{`histogram_quantile(0.9, rate(a_total_bucket[$__rate_interval]))`, "a_total_bucket is not a metric"},
		{`{job="x"}`, "names no metric"},
		{`vector(1)`, "selects no metric"},
	} {
		errs := check(tc.expr, known)
		if len(errs) == 0 || !strings.Contains(errors.Join(errs...).Error(), tc.want) {
			t.Errorf("check(%q) = %v, want an error with %q", tc.expr, errs, tc.want)
		}
	}
	if errs := check(`sum by (x) (rate(a_total{y=~"$namespace"}[$__rate_interval])) > 0 or {__name__="a_total"}`, known); errs != nil {
		t.Errorf("check of a good expression: %v", errs)
	}
}

// Every alert's expression parses and names only metrics the manager serves.
func TestAlertRules(t *testing.T) {
	known := registered(t)
	b, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	var n int
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			n++
			for _, err := range check(r.Expr, known) {
				t.Errorf("%s: %v", r.Alert, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

// labelValues matches Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// Every query of every dashboard, the panels' and the variables', parses and names
// only metrics the manager serves.
func TestDashboards(t *testing.T) {
	known := registered(t)
	files, err := filepath.Glob(filepath.Join(root, "config", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in config/grafana (%v)", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Type    string `json:"type"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var exprs int
		for _, p := range d.Panels {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", filepath.Base(f), p.Title)
			}
			for _, q := range p.Targets {
				exprs++
				for _, err := range check(q.Expr, known) {
					t.Errorf("%s: panel %q: %v", filepath.Base(f), p.Title, err)
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			s, _ := v.Query.(string)
			m := labelValues.FindStringSubmatch(s)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", filepath.Base(f), v.Name, s)
				continue
			}
			exprs++
			for _, err := range check(m[1], known) {
				t.Errorf("%s: variable %s: %v", filepath.Base(f), v.Name, err)
			}
		}
		if exprs == 0 {
			t.Errorf("%s: no queries", filepath.Base(f))
		}
		t.Logf("%s: %d queries", filepath.Base(f), exprs)
	}
}

// The operator's metrics the dashboard does not show are a choice, not an oversight:
// every oacapacity_ metric appears in some query of it.
func TestDashboardShowsEveryOperatorMetric(t *testing.T) {
	own, err := metricnames.Operator()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "config", "grafana", "oa-capacity-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for name := range own {
		if !strings.Contains(string(b), name) {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard shows none of %q", missing)
	}
}
