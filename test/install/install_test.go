// Package install tests what a cluster administrator installs: dist/install.yaml
// (make build-installer) and the optional overlays of config/, against a real
// kube-apiserver (envtest) and against the rules the operator's deployment relies on.
package install

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// fieldOwner is the field manager of this test's server-side applies.
const fieldOwner = "oac-install-test"

// inRepo returns the path of rel in the repository.
func inRepo(t *testing.T, rel ...string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, rel...)...)
}

// installYAML returns $OAC_INSTALL_YAML or the repository's dist/install.yaml.
func installYAML(t *testing.T) []byte {
	t.Helper()
	path := cmp.Or(os.Getenv("OAC_INSTALL_YAML"), inRepo(t, "dist", "install.yaml"))
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s does not exist: run make build-installer (or set OAC_INSTALL_YAML)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kustomize renders a kustomization directory of the repository with kubectl.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed to render %s (it renders dist/install.yaml too): %v", dir, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", inRepo(t, dir))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := d.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode object %d: %v", len(objs)+1, err)
		}
		if len(u.Object) == 0 {
			continue // an empty document
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatal("no objects")
	}
	return objs
}

func name(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s", u.GetKind(), client.ObjectKeyFromObject(u))
}

// dryRun sends every object to the API server as a server-side apply with dryRun=All:
// the API server validates it completely (schema, unknown fields, defaulting,
// admission) and stores nothing, whether the object exists already (the CRD, which
// envtest installed) or not. Namespaced objects need their Namespace, so the
// Namespaces of objs are applied for real first, as kubectl apply would.
func dryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
				t.Fatalf("apply %s: %v", name(u), err)
			}
		}
	}
	for _, u := range objs {
		err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
			client.DryRunAll, client.FieldOwner(fieldOwner), client.ForceOwnership)
		if err != nil {
			t.Errorf("the API server refuses %s: %v", name(u), err)
		}
	}
}

// typed returns the objects of kind in objs as T.
func typed[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) []*T {
	t.Helper()
	var out []*T
	for _, u := range objs {
		if u.GetKind() != kind {
			continue
		}
		o := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, o, true); err != nil {
			t.Fatalf("convert %s: %v", name(u), err)
		}
		out = append(out, o)
	}
	return out
}

// flagValue returns the value of --name=value in args, and whether it is there; a bare
// --name is "true".
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if a == "--"+name {
			return "true", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// durationFlag returns the duration of --name in args, or def.
func durationFlag(t *testing.T, args []string, name string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := flagValue(args, name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("--%s=%s: %v", name, v, err)
	}
	return d
}

// manager returns the one Deployment and its manager container.
func manager(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	deps := typed[appsv1.Deployment](t, objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments, want 1", len(deps))
	}
	d := deps[0]
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return nil, nil
}

// targets reports whether Service port sp reaches container port cp.
func targets(sp corev1.ServicePort, cp corev1.ContainerPort) bool {
	switch sp.TargetPort.Type {
	case intstr.String:
		return sp.TargetPort.StrVal == cp.Name
	default:
		tp := sp.TargetPort.IntVal
		if tp == 0 {
			tp = sp.Port
		}
		return tp == cp.ContainerPort
	}
}

// services returns the Services that select the pods of d.
func services(t *testing.T, objs []*unstructured.Unstructured, d *appsv1.Deployment) []*corev1.Service {
	t.Helper()
	var out []*corev1.Service
	for _, s := range typed[corev1.Service](t, objs, "Service") {
		if s.Namespace == d.Namespace && len(s.Spec.Selector) > 0 &&
			labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, s)
		}
	}
	return out
}

func TestInstallYAML(t *testing.T) {
	objs := decode(t, installYAML(t))
	dryRun(t, objs)

	t.Run("no wildcard rights", func(t *testing.T) {
		check := func(kind, name string, rules []rbacv1.PolicyRule) {
			for i, r := range rules {
				for field, values := range map[string][]string{"apiGroups": r.APIGroups, "resources": r.Resources,
					"verbs": r.Verbs, "nonResourceURLs": r.NonResourceURLs} {
					if slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, "*") }) {
						t.Errorf("%s %s rule %d has a wildcard in %s: %v", kind, name, i, field, values)
					}
				}
			}
		}
		for _, r := range typed[rbacv1.ClusterRole](t, objs, "ClusterRole") {
			check("ClusterRole", r.Name, r.Rules)
		}
		for _, r := range typed[rbacv1.Role](t, objs, "Role") {
			check("Role", r.Namespace+"/"+r.Name, r.Rules)
		}
	})

	// The operator only reads Secrets (the receiver GETs callbackToken, the
	// reconciler watches credentials): a right to write them would let a compromised
	// manager change or delete any credentials of the cluster.
	t.Run("no write rights on Secrets", func(t *testing.T) {
		writes := []string{"create", "update", "patch", "delete", "deletecollection"}
		check := func(kind, name string, rules []rbacv1.PolicyRule) {
			for i, r := range rules {
				if !slices.Contains(r.APIGroups, "") || !slices.Contains(r.Resources, "secrets") {
					continue
				}
				for _, v := range r.Verbs {
					if slices.Contains(writes, strings.ToLower(v)) {
						t.Errorf("%s %s rule %d grants %q on secrets: %+v", kind, name, i, v, r)
					}
				}
			}
		}
		for _, r := range typed[rbacv1.ClusterRole](t, objs, "ClusterRole") {
			check("ClusterRole", r.Name, r.Rules)
		}
		for _, r := range typed[rbacv1.Role](t, objs, "Role") {
			check("Role", r.Namespace+"/"+r.Name, r.Rules)
		}
	})

	d, c := manager(t, objs)
	pod := d.Spec.Template.Spec

	t.Run("two replicas, one leader", func(t *testing.T) {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("replicas %v, want 2", ptrString(d.Spec.Replicas))
		}
		if v, ok := flagValue(c.Args, "leader-elect"); !ok || v != "true" {
			t.Errorf("args %q lack --leader-elect", c.Args)
		}
		a := pod.Affinity
		spread := len(pod.TopologySpreadConstraints) > 0
		if !spread && (a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0) {
			t.Error("nothing spreads the replicas over nodes (preferred pod anti-affinity or topologySpreadConstraints)")
		}
		if a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			t.Error("required pod anti-affinity: a one-node cluster could not run both replicas")
		}
	})

	t.Run("restricted security context", func(t *testing.T) {
		psc, sc := pod.SecurityContext, c.SecurityContext
		if psc == nil || sc == nil {
			t.Fatalf("pod securityContext %+v, container securityContext %+v", psc, sc)
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Error("runAsNonRoot is not true")
		}
		if psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 {
			t.Errorf("runAsUser %v, runAsGroup %v, want 65532", psc.RunAsUser, psc.RunAsGroup)
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("seccompProfile %+v, want RuntimeDefault", psc.SeccompProfile)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("privileged")
		}
	})

	t.Run("requests and limits", func(t *testing.T) {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				t.Errorf("no %s request", res)
			}
			if q, ok := c.Resources.Limits[res]; !ok || q.IsZero() {
				t.Errorf("no %s limit", res)
			}
		}
	})

	t.Run("grace period covers the callback drain", func(t *testing.T) {
		need := durationFlag(t, c.Args, "callback-shutdown-delay", 5*time.Second) + durationFlag(t, c.Args, "callback-drain-timeout", 20*time.Second)
		grace := 30 * time.Second // the API server's default
		if pod.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		}
		if grace <= need {
			t.Errorf("terminationGracePeriodSeconds %v, want over callback-shutdown-delay + callback-drain-timeout = %v", grace, need)
		}
	})

	t.Run("a PodDisruptionBudget keeps one", func(t *testing.T) {
		var found bool
		for _, p := range typed[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget") {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil {
				t.Fatalf("PodDisruptionBudget %s: %v", p.Name, err)
			}
			if p.Namespace != d.Namespace || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			found = true
			if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.String() != "1" {
				t.Errorf("PodDisruptionBudget %s minAvailable %v, want 1", p.Name, p.Spec.MinAvailable)
			}
		}
		if !found {
			t.Errorf("no PodDisruptionBudget selects the manager pods %v", d.Spec.Template.Labels)
		}
	})

	t.Run("the metrics Service targets the HTTPS port", func(t *testing.T) {
		if v, ok := flagValue(c.Args, "metrics-secure"); ok && v != "true" {
			t.Errorf("--metrics-secure=%s: metrics would be served without authentication", v)
		}
		addr, ok := flagValue(c.Args, "metrics-bind-address")
		if !ok {
			addr = ":8443"
		}
		var metricsPort *corev1.ContainerPort
		for i, p := range c.Ports {
			if addr == fmt.Sprintf(":%d", p.ContainerPort) {
				metricsPort = &c.Ports[i]
			}
		}
		if metricsPort == nil {
			t.Fatalf("no container port for --metrics-bind-address=%s in %+v", addr, c.Ports)
		}
		var found bool
		for _, s := range services(t, objs, d) {
			for _, sp := range s.Spec.Ports {
				if !targets(sp, *metricsPort) {
					continue
				}
				found = true
				if sp.Name != "https" || sp.Port != 8443 {
					t.Errorf("Service %s port %+v, want https 8443", s.Name, sp)
				}
			}
		}
		if !found {
			t.Errorf("no Service targets the metrics port %+v", *metricsPort)
		}
	})

	t.Run("the ServiceAccount exists and holds the manager's rights", func(t *testing.T) {
		sas := typed[corev1.ServiceAccount](t, objs, "ServiceAccount")
		if !slices.ContainsFunc(sas, func(sa *corev1.ServiceAccount) bool {
			return sa.Name == pod.ServiceAccountName && sa.Namespace == d.Namespace
		}) {
			t.Errorf("ServiceAccount %s/%s is not in the manifests", d.Namespace, pod.ServiceAccountName)
		}
		bound := map[string]bool{}
		for _, b := range typed[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding") {
			for _, s := range b.Subjects {
				if s.Kind == rbacv1.ServiceAccountKind && s.Name == pod.ServiceAccountName && s.Namespace == d.Namespace {
					bound[b.RoleRef.Name] = true
				}
			}
		}
		for _, r := range typed[rbacv1.ClusterRole](t, objs, "ClusterRole") {
			if strings.HasSuffix(r.Name, "manager-role") && !bound[r.Name] {
				t.Errorf("ClusterRole %s is not bound to the manager's ServiceAccount", r.Name)
			}
		}
	})
}

// The callback-tls overlay mounts its Secret where --callback-cert-dir points, and
// the callbacks Service serves port 443.
func TestCallbackTLSOverlay(t *testing.T) {
	objs := decode(t, kustomize(t, "config/overlays/callback-tls"))
	dryRun(t, objs)
	d, c := manager(t, objs)
	dir, ok := flagValue(c.Args, "callback-cert-dir")
	if !ok || dir == "" {
		t.Fatalf("args %q lack --callback-cert-dir", c.Args)
	}
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			volume = m.Name
		}
	}
	var secret string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.Secret != nil {
			secret = v.Secret.SecretName
		}
	}
	if secret != "oa-capacity-callback-tls" {
		t.Errorf("%s is not the mount of Secret oa-capacity-callback-tls (volume %q, Secret %q)", dir, volume, secret)
	}
	var callbacks *corev1.ContainerPort
	for i, p := range c.Ports {
		if addr, _ := flagValue(c.Args, "callback-bind-address"); addr == fmt.Sprintf(":%d", p.ContainerPort) {
			callbacks = &c.Ports[i]
		}
	}
	if callbacks == nil {
		t.Fatalf("no container port for --callback-bind-address in %+v", c.Ports)
	}
	var found bool
	for _, s := range services(t, objs, d) {
		for _, sp := range s.Spec.Ports {
			if targets(sp, *callbacks) {
				found = true
				if sp.Port != 443 {
					t.Errorf("Service %s serves callbacks on port %d, want 443", s.Name, sp.Port)
				}
			}
		}
	}
	if !found {
		t.Error("no Service targets the callback port")
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
