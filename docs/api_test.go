// Package docs_test keeps docs/api.md in step with the generated CRD. It lives beside
// the page it checks, in a package of its own, so that it runs in `go test ./...`
// without envtest (the tests of api/v1alpha1 start a control plane in TestMain).
package docs_test

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	crdFile = "../config/crd/bases/chat.oacapacity.io_officialaccountcapacities.yaml"
	apiDoc  = "api.md"
	version = "v1alpha1"
)

// crdName is crdFile as the messages show it, from the root of the module.
var crdName = strings.TrimPrefix(crdFile, "../")

// schema is the part of an OpenAPI v3 schema the walk needs.
type schema struct {
	Type                  string            `json:"type"`
	Properties            map[string]schema `json:"properties"`
	Items                 *schema           `json:"items"`
	AdditionalProperties  any               `json:"additionalProperties"`
	PreserveUnknownFields bool              `json:"x-kubernetes-preserve-unknown-fields"`
	EmbeddedResource      bool              `json:"x-kubernetes-embedded-resource"`
}

type crd struct {
	Spec struct {
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// crdPaths returns every field path under spec and status of the CRD's version, in
// the form the doc writes them: objects' properties joined by ".", an array's items
// as "[]" (status.accounts[].id).
func crdPaths(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatalf("read the CRD: %v", err)
	}
	var c crd
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("parse %s: %v", crdName, err)
	}
	paths := map[string]bool{}
	found := false
	for _, v := range c.Spec.Versions {
		if v.Name != version {
			continue
		}
		found = true
		root := v.Schema.OpenAPIV3Schema
		for _, top := range []string{"spec", "status"} {
			s, ok := root.Properties[top]
			if !ok {
				t.Fatalf("%s: version %s has no %s", crdName, version, top)
			}
			if err := walk(top, s, paths); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found {
		t.Fatalf("%s has no version %s", crdName, version)
	}
	return paths
}

// walk adds the paths below prefix. Schemas whose fields it cannot name (maps,
// free-form objects) are an error, so that a new kind of field is not silently left
// out of the check: teach the walk and the doc a notation for it then.
func walk(prefix string, s schema, paths map[string]bool) error {
	if s.AdditionalProperties != nil || s.PreserveUnknownFields || s.EmbeddedResource {
		return fmt.Errorf("%s: a map or free-form object; the docs check cannot name its fields yet", prefix)
	}
	for name, p := range s.Properties {
		path := prefix + "." + name
		paths[path] = true
		if err := walk(path, p, paths); err != nil {
			return err
		}
	}
	if s.Items != nil {
		if err := walk(prefix+"[]", *s.Items, paths); err != nil {
			return err
		}
	}
	return nil
}

var (
	// fence opens or closes a fenced code block; field paths in examples do not count.
	fence = regexp.MustCompile("^\\s*(```|~~~)")
	// codeSpan is an inline code span of single backticks.
	codeSpan = regexp.MustCompile("`([^`]+)`")
	// fieldPath is what counts as naming a field: spec.… or status.…, names joined by
	// dots, an array's items as [] (a trailing [] names the array itself).
	fieldPath = regexp.MustCompile(`^(spec|status)(\.[A-Za-z][A-Za-z0-9]*(\[\])?)+$`)
)

// docPaths returns the field paths docs/api.md names in backticks, with the line of
// their first mention.
func docPaths(t *testing.T) map[string]int {
	t.Helper()
	raw, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatalf("read the doc: %v", err)
	}
	return pathsIn(string(raw))
}

// pathsIn returns the field paths named in the inline code of a Markdown text, outside
// fenced code blocks, with the line of their first mention.
func pathsIn(text string) map[string]int {
	paths := map[string]int{}
	inFence := false
	for n, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			if !fieldPath.MatchString(m[1]) {
				continue
			}
			p := strings.TrimSuffix(m[1], "[]")
			if _, seen := paths[p]; !seen {
				paths[p] = n + 1
			}
		}
	}
	return paths
}

// TestAPIDocNamesEveryField fails when docs/api.md leaves out a field of the CRD's
// spec or status, or names one (in backticks, by full path) that the CRD does not
// have: a field added, removed or renamed must be documented in the same change.
func TestAPIDocNamesEveryField(t *testing.T) {
	want := crdPaths(t)
	if len(want) == 0 {
		t.Fatalf("found no fields in %s", crdName)
	}
	got := docPaths(t)

	var missing, stale []string
	for p := range want {
		if _, ok := got[p]; !ok {
			missing = append(missing, p)
		}
	}
	for p, line := range got {
		if !want[p] {
			stale = append(stale, fmt.Sprintf("%s (line %d)", p, line))
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("docs/%s does not name these fields of %s; add each by full path in backticks, e.g. `%s`:\n\t%s",
			apiDoc, crdName, missing[0], strings.Join(missing, "\n\t"))
	}
	if len(stale) > 0 {
		t.Errorf("docs/%s names fields that %s does not have (removed or renamed?):\n\t%s",
			apiDoc, crdName, strings.Join(stale, "\n\t"))
	}
}

// TestWalkNamesArraysAndNestedFields checks the walk itself on a small schema, so
// that a bug in it cannot make the check above pass vacuously.
func TestWalkNamesArraysAndNestedFields(t *testing.T) {
	s := schema{Type: "object", Properties: map[string]schema{
		"a": {Type: "array", Items: &schema{Type: "object", Properties: map[string]schema{
			"b": {Type: "array", Items: &schema{Type: "object", Properties: map[string]schema{"c": {Type: "string"}}}},
		}}},
		"d": {Type: "array", Items: &schema{Type: "string"}},
	}}
	got := map[string]bool{}
	if err := walk("status", s, got); err != nil {
		t.Fatal(err)
	}
	want := []string{"status.a", "status.a[].b", "status.a[].b[].c", "status.d"}
	if k := sortedKeys(got); !slices.Equal(k, want) {
		t.Errorf("walk = %q, want %q", k, want)
	}
	if err := walk("spec", schema{Type: "object", Properties: map[string]schema{
		"m": {Type: "object", AdditionalProperties: map[string]any{"type": "string"}},
	}}, map[string]bool{}); err == nil {
		t.Error("walk accepted a map field it cannot name")
	}
}

// TestPathsInReadsInlineCodeOnly checks the doc side: inline code outside code blocks
// counts, other spans do not, and a trailing [] names the array.
func TestPathsInReadsInlineCodeOnly(t *testing.T) {
	text := strings.Join([]string{
		"| `spec.a` | and `status.b[]` and `status.b[].c` |",
		"not `.spec.d`, `status.e[0].f`, `spec`, `spec.a.b c` or spec.g",
		"```yaml",
		"`spec.inBlock`",
		"```",
		"again `spec.a`, then `status.h`",
	}, "\n")
	want := map[string]int{"spec.a": 1, "status.b": 1, "status.b[].c": 1, "status.h": 6}
	if got := pathsIn(text); !maps.Equal(got, want) {
		t.Errorf("pathsIn = %v, want %v", got, want)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
