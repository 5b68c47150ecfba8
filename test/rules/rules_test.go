// Package rules runs promtool's unit tests (config/prometheus/tests) over the alert
// rules of config/prometheus/prometheus_rule.yaml, and shows that they catch a broken
// rule: each alert, broken in several ways, makes them fail.
//
// promtool reads a plain rules file, not a PrometheusRule: the tests write the
// PrometheusRule's spec.groups to rules.yaml in a scratch directory beside copies of
// the test files, so that the PrometheusRule stays the one source of the rules.
//
// OAC_PROMTOOL names the promtool binary; make test-rules (and make test) build it with
// hack/promtool.sh and set it. Without it the tests are skipped.
package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OAC_PROMTOOL")
	if p == "" {
		t.Skip("OAC_PROMTOOL is unset: run make test-rules, which builds promtool (hack/promtool.sh) and sets it")
	}
	return p
}

// group is a rule group as both the PrometheusRule and promtool's rules file hold it;
// rules stay untyped so that every field the PrometheusRule has reaches promtool.
type group struct {
	Name  string           `json:"name"`
	Rules []map[string]any `json:"rules"`
}

func alertName(r map[string]any) string {
	s, _ := r["alert"].(string)
	return s
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadGroups reads spec.groups of config/prometheus/prometheus_rule.yaml.
func loadGroups(t *testing.T) []group {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "prometheus", "prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []group `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatalf("decode the PrometheusRule: %v", err)
	}
	if pr.Kind != "PrometheusRule" || len(pr.Spec.Groups) == 0 {
		t.Fatalf("want a PrometheusRule with groups, got kind %q with %d groups", pr.Kind, len(pr.Spec.Groups))
	}
	return pr.Spec.Groups
}

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "prometheus", "tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in config/prometheus/tests (%v)", err)
	}
	return files
}

// suite writes groups as rules.yaml and copies the test files into a scratch
// directory, and returns it with the copies' names.
func suite(t *testing.T, groups []group) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range testFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return dir, names
}

// run runs promtool in dir and returns its output, stdout and stderr together.
func run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// The rules pass promtool's own checks (PromQL, templates, durations, duplicates).
func TestCheckRules(t *testing.T) {
	promtool(t)
	dir, _ := suite(t, loadGroups(t))
	if out, err := run(t, dir, "check", "rules", "rules.yaml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// promtool test rules passes over the rules as they are.
func TestRules(t *testing.T) {
	promtool(t)
	dir, files := suite(t, loadGroups(t))
	out, err := run(t, dir, append([]string{"test", "rules"}, files...)...)
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Log(out)
}

// The shape of promtool's test files, as far as the coverage check needs it.
type testFile struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name           string `json:"name"`
		AlertRuleTests []struct {
			EvalTime  string `json:"eval_time"`
			Alertname string `json:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `json:"exp_labels"`
				ExpAnnotations map[string]string `json:"exp_annotations"`
			} `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// loadTestFiles decodes the test files, by path. Not strictly: fields testFile does not
// model (input_series, interval) are promtool's to check.
func loadTestFiles(t *testing.T) map[string]testFile {
	t.Helper()
	out := map[string]testFile{}
	for _, f := range testFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = tf
	}
	return out
}

// groupsTesting maps each alert to the names of the test groups with a case of it.
// promtool checks an alert only in the cases that name it, so a broken alert is
// caught, or not, by those groups alone: running only them (--run) is the same check,
// about three times faster. An alert in a group without a name maps to nothing: all
// groups run.
func groupsTesting(t *testing.T) map[string][]string {
	t.Helper()
	named, unnamed := map[string][]string{}, map[string]bool{}
	for _, tf := range loadTestFiles(t) {
		for _, g := range tf.Tests {
			for _, c := range g.AlertRuleTests {
				if g.Name == "" {
					unnamed[c.Alertname] = true
				} else if !slices.Contains(named[c.Alertname], g.Name) {
					named[c.Alertname] = append(named[c.Alertname], g.Name)
				}
			}
		}
	}
	for a := range unnamed {
		delete(named, a)
	}
	return named
}

// Every alert has a case where it fires, with its labels and annotations, and one where
// it stays quiet; the test files name no alert the rules do not have (a case of an
// unknown alert expecting nothing would always pass).
func TestEveryAlertIsTested(t *testing.T) {
	alerts := map[string]map[string]any{}
	for _, g := range loadGroups(t) {
		for _, r := range g.Rules {
			if alertName(r) != "" {
				alerts[alertName(r)] = r
			}
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for f, tf := range loadTestFiles(t) {
		if !slices.Equal(tf.RuleFiles, []string{"rules.yaml"}) {
			t.Errorf("%s: rule_files %q, want [rules.yaml], the file this test writes", filepath.Base(f), tf.RuleFiles)
		}
		for _, g := range tf.Tests {
			for _, c := range g.AlertRuleTests {
				where := fmt.Sprintf("%s: %q at %s", filepath.Base(f), g.Name, c.EvalTime)
				if _, ok := alerts[c.Alertname]; !ok {
					t.Errorf("%s: alert %q is not in prometheus_rule.yaml", where, c.Alertname)
					continue
				}
				if len(c.ExpAlerts) == 0 {
					quiet[c.Alertname] = true
				}
				for _, a := range c.ExpAlerts {
					fires[c.Alertname] = true
					if a.ExpLabels["severity"] == "" {
						t.Errorf("%s: %s is expected without its severity", where, c.Alertname)
					}
					for _, k := range []string{"summary", "description"} {
						if a.ExpAnnotations[k] == "" {
							t.Errorf("%s: %s is expected without its %s", where, c.Alertname, k)
						}
					}
				}
			}
		}
	}
	for name := range alerts {
		if !fires[name] {
			t.Errorf("%s: no case where it fires", name)
		}
		if !quiet[name] {
			t.Errorf("%s: no case where it stays quiet", name)
		}
	}
}

// A mutation breaks one alerting rule in place.
type mutation struct {
	name  string
	apply func(r map[string]any) bool // false: does not apply to this rule
}

var mutations = []mutation{
	// An expression that never has a result: the cases where the alert fires fail.
	{"never fires", func(r map[string]any) bool { r["expr"] = "vector(1) < 0"; return true }},
	// A result at every evaluation, without the labels of the real one: the cases
	// where it stays quiet fail, and so do those that expect its labels.
	{"always fires", func(r map[string]any) bool { r["expr"] = "vector(1)"; return true }},
	// No for: the cases that catch it pending fail.
	{"fires at once", func(r map[string]any) bool {
		if r["for"] == nil {
			return false
		}
		delete(r, "for")
		return true
	}},
	{"other severity", func(r map[string]any) bool {
		labels, _ := r["labels"].(map[string]any)
		if labels == nil {
			return false
		}
		if labels["severity"] == "critical" {
			labels["severity"] = "warning"
		} else {
			labels["severity"] = "critical"
		}
		return true
	}},
	{"other summary", func(r map[string]any) bool {
		ann, _ := r["annotations"].(map[string]any)
		if ann == nil {
			return false
		}
		ann["summary"] = fmt.Sprint(ann["summary"], " (broken)")
		return true
	}},
}

func clone(t *testing.T, groups []group) []group {
	t.Helper()
	b, err := json.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	var c []group
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Each alert, broken each way, makes promtool test rules fail, and fail on that alert:
// the tests of TestRules can fail.
func TestBrokenRulesFail(t *testing.T) {
	promtool(t)
	groups := loadGroups(t)
	tested := groupsTesting(t)
	for gi, g := range groups {
		for ri, r := range g.Rules {
			name := alertName(r)
			if name == "" {
				continue
			}
			for _, m := range mutations {
				t.Run(name+"/"+strings.ReplaceAll(m.name, " ", "_"), func(t *testing.T) {
					t.Parallel()
					broken := clone(t, groups)
					if !m.apply(broken[gi].Rules[ri]) {
						t.Skipf("%s does not apply to %s", m.name, name)
					}
					dir, files := suite(t, broken)
					args := append([]string{"test", "rules"}, files...)
					for _, g := range tested[name] {
						args = append(args, "--run=^"+regexp.QuoteMeta(g)+"$")
					}
					out, err := run(t, dir, args...)
					if err == nil {
						t.Fatalf("promtool test rules passed with %s broken (%s):\n%s", name, m.name, out)
					}
					if _, ok := err.(*exec.ExitError); !ok {
						t.Fatalf("promtool did not run: %v\n%s", err, out)
					}
					if !strings.Contains(out, "alertname: "+name+",") {
						t.Errorf("promtool failed, but on no case of %s:\n%s", name, out)
					}
				})
			}
		}
	}
}
