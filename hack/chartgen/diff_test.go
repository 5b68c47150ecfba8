package main

import (
	"strings"
	"testing"
	"text/template"
)

var (
	toggleA = toggle{on: ".a", off: "not .a"}
	toggleB = toggle{on: ".b", off: "not .b"}
)

// execute renders lines as a template with the toggles a and b set as given.
func execute(t *testing.T, lines []string, a, b bool) string {
	t.Helper()
	// A first line of its own, as the "---" before each object: a conditional on the
	// first line trims the newline before it.
	tpl, err := template.New("").Parse(strings.Join(append([]string{"---"}, lines...), "\n"))
	if err != nil {
		t.Fatalf("parse %q: %v", lines, err)
	}
	var out strings.Builder
	if err := tpl.Execute(&out, map[string]bool{"a": a, "b": b}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimPrefix(out.String(), "---"), "\n")
}

// The rendered template is the base with every toggle off and each toggle's variant
// with it on, whatever the edit.
func TestRenderReproducesBothSides(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, a, b string // lines separated by |; b is "" when only a toggles
	}{
		{name: "same", base: "x|y", a: "x|y"},
		{name: "insert in the middle", base: "x|z", a: "x|y|z"},
		{name: "insert first", base: "y|z", a: "x|y|z"},
		{name: "insert last", base: "x|y", a: "x|y|z"},
		{name: "delete", base: "x|y|z", a: "x|z"},
		{name: "delete first", base: "x|y|z", a: "y|z"},
		{name: "replace", base: "  - name: callbacks|    port: 80|    targetPort: callbacks", a: "  - name: https|    port: 443|    targetPort: callbacks"},
		{name: "several hunks", base: "a|b|c|d|e|f", a: "a|B|c|e|f|g"},
		{name: "from nothing", base: "", a: "x|y"},
		{name: "two toggles", base: "a|b|c|d", a: "a|x|b|c|d", b: "a|b|c|D"},
		{name: "two toggles insert at one point", base: "a|b", a: "a|x|b", b: "a|y|b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			split := func(s string) []string {
				if s == "" {
					return nil
				}
				return strings.Split(s, "|")
			}
			base, a, b := split(tc.base), split(tc.a), split(tc.b)
			hunks := diff(base, a, toggleA, 0)
			if b != nil {
				hunks = append(hunks, diff(base, b, toggleB, 1)...)
			}
			lines, err := render(base, hunks)
			if err != nil {
				t.Fatal(err)
			}
			check := func(onA, onB bool, want []string) {
				t.Helper()
				if got := execute(t, lines, onA, onB); got != strings.Join(want, "\n") {
					t.Errorf("a=%v b=%v: got %q, want %q; template:\n%s", onA, onB, got, strings.Join(want, "\n"), strings.Join(lines, "\n"))
				}
			}
			check(false, false, base)
			check(true, false, a)
			if b != nil {
				check(false, true, b)
			}
			if tc.name == "two toggles insert at one point" {
				check(true, true, []string{"a", "x", "y", "b"})
			}
		})
	}
}

func TestRenderRefusesTogglesOnTheSameLines(t *testing.T) {
	base := []string{"a", "b", "c"}
	hunks := append(diff(base, []string{"a", "x", "c"}, toggleA, 0), diff(base, []string{"a", "y", "c"}, toggleB, 1)...)
	if _, err := render(base, hunks); err == nil || !strings.Contains(err.Error(), "same lines") {
		t.Errorf("render = %v, want an error about the same lines", err)
	}
}

func TestExpand(t *testing.T) {
	got, err := expand([]string{
		"  replicas: " + placeholder("replicas"),
		"        - --leader-elect",
		"        - " + placeholder("extra_args"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"  replicas: {{ .Values.replicas }}",
		"        - --leader-elect",
		"        {{- range .Values.extraArgs }}",
		"        - {{ . | quote }}",
		"        {{- end }}",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("expand = %q, want %q", got, want)
	}

	for _, bad := range []string{
		"x: " + placeholder("nonesuch"),
		"args: [" + placeholder("extra_args") + "]", // a block placeholder inside a line
	} {
		if _, err := expand([]string{bad}); err == nil {
			t.Errorf("expand(%q) = nil error", bad)
		}
	}
}
