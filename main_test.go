package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
	"github.com/oacapacity/oa-capacity-operator/webhookserver"
)

var env *testenv.Env

// The test binary doubles as the manager: with OAC_RUN_MANAGER set it runs main, so
// the tests exercise the real flags, wiring and signal handling in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("OAC_RUN_MANAGER") != "" {
		main()
		return
	}
	os.Exit(testenv.Run(m, &env))
}

func manager(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "OAC_RUN_MANAGER=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func TestHelpListsFlags(t *testing.T) {
	cmd, out := manager(t, "--help")
	if err := cmd.Run(); err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "for local development only") {
		t.Errorf("--help does not say that --metrics-secure=false is for local development only")
	}
	for _, f := range []string{"kubeconfig", "metrics-bind-address", "metrics-secure", "metrics-cert-dir", "health-probe-bind-address", "leader-elect",
		"callback-bind-address", "callback-path", "callback-cert-dir", "callback-max-body-bytes", "callback-max-clock-skew",
		"callback-write-timeout", "callback-allow-unsigned", "callback-queue-size", "callback-shutdown-delay", "callback-drain-timeout"} {
		if !strings.Contains(out.String(), "-"+f) {
			t.Errorf("--help does not list --%s", f)
		}
	}
}

func TestBadFlagsFail(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--callback-write-timeout=1s"}, // under the Chat backend's 2 s: it would not re-send
		{"--callback-queue-size=0"},
		{"--callback-max-body-bytes=-1"},
	} {
		cmd, out := manager(t, args...)
		if err := cmd.Run(); err == nil {
			t.Errorf("%v was accepted:\n%s", args, out)
		} else if !strings.Contains(out.String(), strings.TrimPrefix(strings.Split(args[0], "=")[0], "--")) {
			t.Errorf("%v: the error does not name the flag:\n%s", args, out)
		}
	}
}

// The manager binary serves callbacks, records them, exposes their metrics on the
// metrics endpoint (plain HTTP here, with --metrics-secure=false), and exits cleanly
// on SIGTERM.
func TestManagerServesCallbacks(t *testing.T) {
	kcPath := env.KubeConfigFile(t)
	callbacks, metrics, probes := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	cmd, out := manager(t, "--kubeconfig", kcPath, "--callback-bind-address", callbacks,
		"--metrics-bind-address", metrics, "--metrics-secure=false", "--health-probe-bind-address", probes, "--callback-path", "/chat")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("manager output:\n%s", out)
		}
	})

	get := func(url string) (int, string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		code, body, err := get("http://" + probes + "/readyz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("readyz: HTTP %d %s", code, body)
		}
		return err
	})

	ctx := context.Background()
	ns := env.Namespace(t)
	const token, appID, account = "main-token", 1499000001, "@TOA#_main"
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		Data: map[string][]byte{chatv1alpha1.CredentialCallbackToken: []byte(token)}}); err != nil {
		t.Fatal(err)
	}
	oac := &chatv1alpha1.OfficialAccountCapacity{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: appID, Accounts: []string{account},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "creds"}}}
	if err := env.Client.Create(ctx, oac); err != nil {
		t.Fatal(err)
	}

	// Until the manager's cache sees the new resource the app is unknown (403).
	testenv.Eventually(t, 30*time.Second, func() error {
		rt := time.Now().Unix()
		url := fmt.Sprintf("http://%s/chat?SdkAppid=%d&CallbackCommand=%s&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&Sign=%s&RequestTime=%d",
			callbacks, appID, webhookserver.CommandAccountFull, webhookserver.Sign(token, rt), rt)
		body := fmt.Sprintf(`{"CallbackCommand":%q,"Official_Account":%q,"EventTime":1670574414123}`, webhookserver.CommandAccountFull, account)
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ActionStatus":"OK"`) {
			return fmt.Errorf("HTTP %d %s", resp.StatusCode, b)
		}
		return nil
	})
	var got chatv1alpha1.OfficialAccountCapacity
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(oac), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Accounts) != 1 || !got.Status.Accounts[0].Full || got.Status.Accounts[0].LastEventTime != 1670574414123 {
		t.Fatalf("status after callback: %+v", got.Status)
	}

	_, body, err := get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	want := `oacapacity_callbacks_total{command="` + webhookserver.CommandAccountFull + `",result="recorded"} 1`
	if !strings.Contains(body, want) {
		t.Errorf("metrics endpoint lacks %s", want)
	}
	for _, m := range []string{"oacapacity_callback_duration_seconds_bucket", "oacapacity_status_writes_total", "oacapacity_callback_queue_depth"} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics endpoint lacks %s", m)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("manager exited with %v after SIGTERM", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("manager did not exit after SIGTERM")
	}
	if !strings.Contains(out.String(), "stopping: no new callbacks") {
		t.Errorf("manager did not log its shutdown")
	}
}

// The install manifests (CRDs, RBAC, manager, Services) and the sample are accepted by
// a real API server.
func TestDeployManifestsAreValid(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH")
	}
	kcPath := env.KubeConfigFile(t)
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kcPath}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	// A dry run creates nothing, so the namespace the objects go into must exist.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "oa-capacity-system"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	run("apply", "--dry-run=server", "-k", "config/default")
	run("apply", "--dry-run=server", "-k", "config/overlays/callback-tls")
	run("apply", "--dry-run=server", "-n", env.Namespace(t), "-k", "config/samples")
}

// startManager runs the manager with args and waits until its probes answer ready.
func startManager(t *testing.T, probes string, args ...string) {
	t.Helper()
	cmd, out := manager(t, append(args, "--health-probe-bind-address", probes)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("manager output:\n%s", out)
		}
	})
	testenv.Eventually(t, 60*time.Second, func() error {
		resp, err := http.Get("http://" + probes + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// The metrics endpoint, as deployed (HTTPS, the default), serves only callers the API
// server authenticates and authorizes: no token is 401, a ServiceAccount without the
// metrics-reader ClusterRole of config/rbac is 403, one bound to it gets the metrics.
func TestMetricsNeedAuthorizedServiceAccount(t *testing.T) {
	ctx := context.Background()
	// A certificate of our own in --metrics-cert-dir, so that the scrape can verify it.
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	for name, b := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(certDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("cannot parse the generated certificate")
	}
	https := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	callbacks, metrics := testenv.FreePort(t), testenv.FreePort(t)
	startManager(t, testenv.FreePort(t), "--kubeconfig", env.KubeConfigFile(t), "--callback-bind-address", callbacks,
		"--metrics-bind-address", metrics, "--metrics-cert-dir", certDir)

	// One callback, so that oacapacity_callbacks_total has a series: an unknown app.
	rt := time.Now().Unix()
	resp, err := http.Post(fmt.Sprintf("http://%s/callback?SdkAppid=1499999999&CallbackCommand=%s&contenttype=json&Sign=%s&RequestTime=%d",
		callbacks, webhookserver.CommandAccountFull, webhookserver.Sign("x", rt), rt), "application/json",
		strings.NewReader(`{"CallbackCommand":"`+webhookserver.CommandAccountFull+`","Official_Account":"@TOA#_x","EventTime":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	scrape := func(token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+metrics+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := https.Do(req)
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		return resp.StatusCode, string(b)
	}

	if code, body := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("scrape without a token: HTTP %d, want 401\n%.300s", code, body)
	}
	// controller-runtime's filter answers an invalid token 500 ("Authentication
	// failed"), not 401; what matters is that it is refused.
	if code, body := scrape("not-a-token"); code == http.StatusOK || strings.Contains(body, "oacapacity_") {
		t.Errorf("scrape with a bad token: HTTP %d, want it refused\n%.300s", code, body)
	}

	ns := env.Namespace(t)
	token := func(name string) string {
		t.Helper()
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		if err := env.Client.Create(ctx, sa); err != nil {
			t.Fatal(err)
		}
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(600))}}
		if err := env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
			t.Fatalf("request a token of ServiceAccount %s: %v", name, err)
		}
		return tr.Status.Token
	}

	if code, body := scrape(token("no-rights")); code != http.StatusForbidden {
		t.Errorf("scrape by a ServiceAccount without rights: HTTP %d, want 403\n%.300s", code, body)
	}

	// The metrics-reader ClusterRole as config/rbac has it, under a name of this test.
	role := readObject(t, &rbacv1.ClusterRole{}, "config/rbac/metrics_reader_role.yaml")
	role.Name = ns + "-metrics-reader"
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: ns}}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	scraper := token("scraper")
	// The metrics endpoint remembers a denial for 30 s: scrape only once the API server
	// grants the right.
	testenv.Eventually(t, 30*time.Second, func() error {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:                  "system:serviceaccount:" + ns + ":scraper",
			Groups:                []string{"system:serviceaccounts"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
		}}
		if err := env.Client.Create(ctx, sar); err != nil {
			return err
		}
		if !sar.Status.Allowed {
			return fmt.Errorf("the API server does not yet let the scraper get /metrics: %+v", sar.Status)
		}
		return nil
	})
	code, body := scrape(scraper)
	if code != http.StatusOK {
		t.Fatalf("scrape by a metrics-reader: HTTP %d, want 200\n%.300s", code, body)
	}
	if want := `oacapacity_callbacks_total{command="` + webhookserver.CommandAccountFull + `",result="unknown_app"} 1`; !strings.Contains(body, want) {
		t.Errorf("metrics lack %s", want)
	}
}

// readObject decodes the one object of a YAML file of the repository into o.
func readObject[T client.Object](t *testing.T, o T, path string) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, o); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return o
}

func TestMemoryLimitFromTheContainer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		want      int64
		wantError bool
	}{
		{"unset", nil, 0, false},
		{"the container's limit", map[string]string{"MEMORY_LIMIT": "268435456"}, 241591910, false},
		{"GOMEMLIMIT wins", map[string]string{"MEMORY_LIMIT": "268435456", "GOMEMLIMIT": "100MiB"}, 0, false},
		{"a quantity, not bytes", map[string]string{"MEMORY_LIMIT": "256Mi"}, 0, true},
		{"negative", map[string]string{"MEMORY_LIMIT": "-1"}, 0, true},
		{"zero", map[string]string{"MEMORY_LIMIT": "0"}, 0, true},
		{"too large", map[string]string{"MEMORY_LIMIT": "99999999999999999999"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memoryLimit(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantError || got != tc.want {
				t.Fatalf("memoryLimit = %d, %v; want %d, error %v", got, err, tc.want, tc.wantError)
			}
		})
	}
}

func FuzzMemoryLimit(f *testing.F) {
	for _, s := range []string{"268435456", "256Mi", "", "-1", "0", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := memoryLimit(func(k string) string {
			if k == "MEMORY_LIMIT" {
				return raw
			}
			return ""
		})
		if err == nil && got < 0 || err != nil && got != 0 {
			t.Fatalf("memoryLimit(%q) = %d, %v", raw, got, err)
		}
	})
}

// A shard's manager sees only the resources of its namespaces and of its selector.
func TestWatchFlagsShardTheCache(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nsA, nsB := env.Namespace(t), env.Namespace(t)
	create := func(ns, name string, lbls map[string]string) {
		t.Helper()
		oac := &chatv1alpha1.OfficialAccountCapacity{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
			Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: 1499000002, Accounts: []string{"@TOA#_" + name},
				CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "creds"}}}
		if err := env.Client.Create(ctx, oac); err != nil {
			t.Fatal(err)
		}
	}
	create(nsA, "a1", map[string]string{"shard": "one"})
	create(nsA, "a2", nil)
	create(nsB, "b1", map[string]string{"shard": "one"})

	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--watch-namespaces", nsA}, []string{nsA + "/a1", nsA + "/a2"}},
		{[]string{"--watch-namespaces", nsA + "," + nsB, "--watch-selector", "shard=one"}, []string{nsA + "/a1", nsB + "/b1"}},
	} {
		o, err := parseFlags(tc.flags)
		if err != nil {
			t.Fatal(err)
		}
		opts, err := cacheOptions(o)
		if err != nil {
			t.Fatal(err)
		}
		opts.Scheme = env.Scheme
		c, err := cache.New(env.Config, opts)
		if err != nil {
			t.Fatal(err)
		}
		cctx, stop := context.WithCancel(ctx)
		go func() { _ = c.Start(cctx) }()
		if !c.WaitForCacheSync(cctx) {
			t.Fatal("cache did not sync")
		}
		got := map[string]bool{}
		for _, ns := range []string{nsA, nsB} {
			var list chatv1alpha1.OfficialAccountCapacityList
			// A namespace outside the shard is an error of the cache or empty.
			if err := c.List(ctx, &list, client.InNamespace(ns)); err == nil {
				for _, it := range list.Items {
					got[it.Namespace+"/"+it.Name] = true
				}
			}
		}
		stop()
		if len(got) != len(tc.want) {
			t.Errorf("%v: the cache holds %v, want %v", tc.flags, got, tc.want)
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("%v: the cache holds %v, want %v", tc.flags, got, tc.want)
			}
		}
	}
}

func TestBadWatchFlagsFail(t *testing.T) {
	for _, args := range [][]string{
		{"--watch-namespaces", "Not_A_Namespace"},
		{"--watch-namespaces", "a,,b"},
		{"--watch-selector", "shard in (a"},
	} {
		if _, err := parseFlags(args); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: error %v, want one naming the flag", args, err)
		}
	}
}
