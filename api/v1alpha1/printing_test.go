package v1alpha1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var wantColumns = []string{"Name", "AppID", "Active", "Used", "Full", "Available", "Last-Full", "Age"}

// createWithStatus stores one object with a status that fills every column.
func createWithStatus(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: "support", Namespace: ns},
		Spec:       validSpec(),
	}
	if err := env.Client.Create(ctx, oac); err != nil {
		t.Fatalf("create: %v", err)
	}
	last := metav1.NewTime(time.Now().Add(-3 * time.Hour))
	oac.Status = chatv1alpha1.OfficialAccountCapacityStatus{
		ActiveAccount:     "@TOA#_support_b",
		ActiveAccountUsed: "87%",
		FullAccounts:      1,
		LastFullTime:      &last,
		Conditions: []metav1.Condition{{
			Type: chatv1alpha1.ConditionCapacityAvailable, Status: metav1.ConditionTrue,
			Reason: "AccountsAvailable", LastTransitionTime: last,
		}},
	}
	if err := env.Client.Status().Update(ctx, oac); err != nil {
		t.Fatalf("update status: %v", err)
	}
}

// TestServerSideColumns reads the object as kubectl does (as a Table), so the columns
// are checked even where kubectl is not installed.
func TestServerSideColumns(t *testing.T) {
	ns := env.Namespace(t)
	createWithStatus(t, ns)

	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := newRequest(strings.TrimSuffix(env.Config.Host, "/") + "/apis/chat.oacapacity.io/v1alpha1/namespaces/" + ns + "/officialaccountcapacities")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("get table: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get table: HTTP %d, %v: %s", resp.StatusCode, err, body)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("decode table: %v: %s", err, body)
	}
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if !reflect.DeepEqual(names, wantColumns) {
		t.Fatalf("columns = %v, want %v", names, wantColumns)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("rows = %d, want 1", len(table.Rows))
	}
	cells := table.Rows[0].Cells
	want := []any{"support", float64(1400000001), "@TOA#_support_b", "87%", float64(1), "True"}
	for i, w := range want {
		if cells[i] != w {
			t.Errorf("cell %s = %#v, want %#v", wantColumns[i], cells[i], w)
		}
	}
	if s, _ := cells[6].(string); s != "3h" {
		t.Errorf("Last-Full = %#v, want 3h", cells[6])
	}
}

func newRequest(url string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	return req, nil
}

func kubectl(t *testing.T) func(args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH; TestServerSideColumns checks the columns without it")
	}
	kcPath := env.KubeConfigFile(t)
	return func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.Command(path, append([]string{"--kubeconfig", kcPath}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %v: %v: %s", args, err, errOut.String())
		}
		return out.String()
	}
}

func TestKubectlGetPrintsColumns(t *testing.T) {
	run := kubectl(t)
	ns := env.Namespace(t)
	createWithStatus(t, ns)
	for _, resource := range []string{"officialaccountcapacities", "oac"} {
		out := run("get", resource, "-n", ns)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl get %s printed %d lines, want 2:\n%s", resource, len(lines), out)
		}
		header := strings.Fields(lines[0])
		wantHeader := []string{"NAME", "APPID", "ACTIVE", "USED", "FULL", "AVAILABLE", "LAST-FULL", "AGE"}
		if !reflect.DeepEqual(header, wantHeader) {
			t.Errorf("kubectl get %s header = %v, want %v", resource, header, wantHeader)
		}
		row := strings.Fields(lines[1])
		if len(row) != 8 || row[0] != "support" || row[1] != "1400000001" || row[2] != "@TOA#_support_b" || row[3] != "87%" || row[4] != "1" || row[5] != "True" || row[6] != "3h" {
			t.Errorf("kubectl get %s row = %v", resource, row)
		}
	}
}

// specFields lists the JSON paths of every field under a type, e.g. "onFull.raiseLimit.step".
func specFields(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[metav1.Duration]() {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		out = append(out, specFields(t.Field(i).Type, prefix+name+".")...)
	}
	return out
}

func TestEverySpecFieldIsDocumented(t *testing.T) {
	fields := specFields(reflect.TypeFor[chatv1alpha1.OfficialAccountCapacitySpec](), "")
	if len(fields) < 25 {
		t.Fatalf("found only %d spec fields; the walk is broken", len(fields))
	}

	// In the CRD schema, each field has a description.
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config/crd/bases/chat.oacapacity.io_officialaccountcapacities.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	for _, f := range fields {
		s := spec
		for _, part := range strings.Split(f, ".") {
			if s.Items != nil {
				s = *s.Items.Schema
			}
			s = s.Properties[part]
		}
		if strings.TrimSpace(s.Description) == "" {
			t.Errorf("spec.%s has no description in the CRD", f)
		}
	}

	// kubectl explain shows each of them.
	run := kubectl(t)
	out := run("explain", "officialaccountcapacity.spec", "--recursive")
	for _, f := range fields {
		leaf := f[strings.LastIndex(f, ".")+1:]
		if !strings.Contains(out, leaf) {
			t.Errorf("kubectl explain --recursive does not show spec.%s", f)
		}
	}
}
