// Package e2e is the reliability suite of issue 11: real bin/manager processes (built
// by `make build`) on the envtest control plane, a fake Chat REST server, notification
// receivers and a simulated Chat backend, and the faults the operator promises to
// survive: replicas killed, the API server stopped, REST and notification targets
// failing, hours of mixed load (TestSoak, OAC_SOAK), and no secret anywhere it shows.
//
// The fast part runs in `make test`; OAC_E2E_SLOW=1 (`make test-e2e`) runs bigger
// variants.
package e2e

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var (
	// env is the control plane every test but TestSoak shares.
	env *testenv.Env
	// sharedPlane serialises the tests on env: each manager watches the whole
	// cluster, so two tests' managers would act on each other's resources, and two
	// tests stop the API server.
	sharedPlane sync.Mutex
	// running counts the tests that are not done yet; TestNoSecretLeaks waits for it.
	running sync.WaitGroup
	// managerBin is bin/manager of the clone.
	managerBin string
)

func TestMain(m *testing.M) {
	// The tests run in parallel, each holding sharedPlane or a control plane of its
	// own, and TestNoSecretLeaks waits in a slot for the others: with two slots it
	// would keep one and serialise TestSoak with the rest.
	testenv.WaitingParallel(16)
	os.Exit(testenv.Run(m, &env))
}

// begin is the start of every test: the test counts as running until its cleanups are
// done, and it needs bin/manager. Call it before t.Parallel.
func begin(t *testing.T) {
	t.Helper()
	running.Add(1)
	t.Cleanup(running.Done) // registered first, so it runs last
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	managerBin = filepath.Join(root, "bin", "manager")
	if _, err := os.Stat(managerBin); err != nil {
		t.Fatalf("bin/manager is missing (run make build): %v", err)
	}
}

// onSharedPlane runs t in parallel with the tests that have a control plane of their
// own, and alone on the shared one.
func onSharedPlane(t *testing.T) {
	t.Helper()
	begin(t)
	t.Parallel()
	sharedPlane.Lock()
	t.Cleanup(sharedPlane.Unlock)
}

// slow reports whether the slow variants run (OAC_E2E_SLOW=1, make test-e2e).
func slow() bool { return os.Getenv("OAC_E2E_SLOW") == "1" }

// scale picks the fast or the slow value of a parameter.
func scale[T any](fast, slowValue T) T {
	if slow() {
		return slowValue
	}
	return fast
}

// soakDuration is OAC_SOAK, by default one minute.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("OAC_SOAK")
	if s == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 20*time.Second {
		t.Fatalf("OAC_SOAK=%q: want a duration of at least 20s", s)
	}
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
