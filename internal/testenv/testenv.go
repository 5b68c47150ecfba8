// Package testenv starts a real kube-apiserver and etcd (envtest) with the project's
// CRDs installed, for the tests of other packages. Binaries come from KUBEBUILDER_ASSETS
// or, when that is unset, from hack/envtest.sh, which builds them once from source.
package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// Env is a running control plane with the CRDs installed.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Scheme knows the built-in types and the project's API.
	Scheme *apiruntime.Scheme
	// Client is an uncached client for arranging and checking test state.
	Client client.Client

	env     *envtest.Environment
	certDir string
}

// Start starts etcd and kube-apiserver and installs the CRDs. Call it from TestMain.
func Start() (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := assetsDir(root)
	if err != nil {
		return nil, err
	}
	scheme := apiruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("add client-go scheme: %w", err)
	}
	if err := chatv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("add chat scheme: %w", err)
	}
	// A fixed certificate directory keeps the serving certificate across an API
	// server restart, so that clients made before a fault test still connect after it.
	certDir, err := os.MkdirTemp("", "oac-envtest-certs-")
	if err != nil {
		return nil, fmt.Errorf("create cert dir: %w", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:   assets,
		CRDDirectoryPaths:       []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:   true,
		Scheme:                  scheme,
		UseExistingCluster:      new(bool),
		ControlPlaneStopTimeout: time.Minute,
	}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir}
	// kube-apiserver's graceful stop waits up to its request timeout (60 s by default)
	// for open watches; a short one keeps a stop, and a fault test's restart, quick.
	env.ControlPlane.APIServer.Configure().Set("request-timeout", "5s")
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		env.ControlPlane.KubectlPath = kubectl
	}
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("start envtest control plane from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &Env{Config: cfg, Scheme: scheme, Client: c, env: env, certDir: certDir}, nil
}

// Run is a TestMain body: start the control plane into *env, run the tests, stop it.
// A fuzzing run (-test.fuzz, in the coordinator and in each worker) gets no control
// plane: fuzz targets are pure and must not start one per worker.
func Run(m *testing.M, env **Env) int {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stop:", err)
	}
	return code
}

// WaitingParallel lets n parallel tests run at once (or GOMAXPROCS, if more) unless
// -parallel is given; call it from TestMain. Tests on a control plane mostly wait, for
// the API server and for their timers, not for a CPU: the default (GOMAXPROCS, 2 on
// CI) would run them two at a time and leave the machine idle.
func WaitingParallel(n int) {
	flag.Parse() // what was given
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(runtime.GOMAXPROCS(0), n)))
	}
}

// Stop stops the control plane and removes its files.
func (e *Env) Stop() error {
	err := e.env.Stop()
	return errors.Join(err, os.RemoveAll(e.certDir))
}

// StopAPIServer stops kube-apiserver, leaving etcd and its data in place.
func (e *Env) StopAPIServer() error {
	if err := e.env.ControlPlane.APIServer.Stop(); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same address
// and with the same certificates.
func (e *Env) StartAPIServer() error {
	if err := e.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	return nil
}

// APIServerDown stops kube-apiserver for a fault test and returns the function that
// starts it again; if the test ends first, its cleanup does.
func (e *Env) APIServerDown(t testing.TB) (restart func()) {
	t.Helper()
	if err := e.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var err error
	start := func() { once.Do(func() { err = e.StartAPIServer() }) }
	t.Cleanup(start)
	return func() {
		t.Helper()
		start()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// KubeConfig returns a kubeconfig for an administrator of the control plane.
func (e *Env) KubeConfig() ([]byte, error) {
	user, err := e.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, e.Config)
	if err != nil {
		return nil, fmt.Errorf("add kubeconfig user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig: %w", err)
	}
	return kc, nil
}

// KubeConfigFile writes KubeConfig into a file of the test's temporary directory,
// for kubectl or a manager process, and returns its path.
func (e *Env) KubeConfigFile(t testing.TB) string {
	t.Helper()
	kc, err := e.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Namespace creates a namespace of its own for one test and deletes it afterwards.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// RepoRoot is the directory of the project's go.mod: above this source file, or, in a
// binary built with -trimpath (make run's localrun), above the working directory.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the testenv source file")
	}
	dir := filepath.Dir(file)
	if !filepath.IsAbs(dir) {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find the project root: %w", err)
		}
		dir = wd
	}
	for start := dir; ; {
		if raw, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(raw) == projectModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above %s", projectModule, start)
		}
		dir = parent
	}
}

const projectModule = "github.com/oacapacity/oa-capacity-operator"

// modulePath is the module path a go.mod declares.
func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// assetsDir returns KUBEBUILDER_ASSETS or builds the binaries with hack/envtest.sh.
func assetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(root, "hack", "envtest.sh"), "path")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build envtest binaries (hack/envtest.sh path): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
