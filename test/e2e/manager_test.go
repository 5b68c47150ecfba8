package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// leaseName is the manager's leader election ID (main.go).
const leaseName = "oa-capacity-operator.chat.oacapacity.io"

// manager is one bin/manager process, a replica. Its log, over every start, is kept
// in memory; each start gets the same ports, as a pod keeps its address.
type manager struct {
	t         *testing.T
	name      string
	args      func() []string
	callbacks string // host:port of the callback server
	metrics   string // host:port of the plain-HTTP metrics endpoint
	probes    string // host:port of /healthz and /readyz

	log *testenv.Buffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	exitErr error
	stopped bool // the test stopped it on purpose
}

// replicas starts n managers with leader election in the namespace leaseNS, each on
// free loopback ports, against the control plane of kubeconfig, and stops them when
// the test ends.
func replicas(t *testing.T, n int, kubeconfig, leaseNS string) []*manager {
	t.Helper()
	var ms []*manager
	for i := range n {
		m := &manager{t: t, name: fmt.Sprintf("manager-%d", i), log: &testenv.Buffer{}}
		m.ports()
		m.args = func() []string {
			return []string{
				"--kubeconfig", kubeconfig,
				"--leader-elect", "--leader-election-namespace", leaseNS,
				"--callback-bind-address", m.callbacks,
				"--metrics-bind-address", m.metrics, "--metrics-secure=false",
				"--health-probe-bind-address", m.probes,
			}
		}
		ms = append(ms, m)
	}
	t.Cleanup(func() {
		// Together: each SIGTERM takes the callback shutdown delay (5 s).
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(m.stop)
		}
		wg.Wait()
		for _, m := range ms {
			collectLog(m.name+" of "+t.Name(), m.log.String())
			if t.Failed() {
				t.Logf("%s log (last 60 lines):\n%s", m.name, tail(m.log.String(), 60))
			}
		}
	})
	// Started together, as a Deployment's pods are.
	for _, m := range ms {
		m.launch()
	}
	for _, m := range ms {
		m.waitReady()
	}
	return ms
}

var (
	portsMu sync.Mutex
	used    = map[string]bool{}
)

// ports picks free loopback ports for the manager, never one handed out before in
// this run.
func (m *manager) ports() {
	c, me, p := freePort(m.t), freePort(m.t), freePort(m.t)
	m.mu.Lock() // a restart during a burst changes them under the backend's senders
	m.callbacks, m.metrics, m.probes = c, me, p
	m.mu.Unlock()
}

func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !used[addr] {
			used[addr] = true
			return addr
		}
	}
}

// launch starts the process, in a process group of its own so that a signal meant
// for it reaches nothing else.
func (m *manager) launch() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.log, "--- e2e: start %s\n", m.name)
	cmd := exec.Command(managerBin, m.args()...)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start %s: %v", m.name, err)
	}
	exited := make(chan struct{})
	m.cmd, m.exited, m.stopped = cmd, exited, false
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.exitErr = err
		m.mu.Unlock()
		fmt.Fprintf(m.log, "--- e2e: %s exited: %v\n", m.name, err)
		close(exited)
	}()
}

// waitReady waits for /readyz. A manager that could not bind a port (another process
// took it since freePort) gets new ones and is started again.
func (m *manager) waitReady() {
	m.t.Helper()
	for try := 0; ; try++ {
		err := m.pollReady()
		if err == nil {
			return
		}
		if try < 3 && strings.Contains(err.Error(), "address already in use") {
			m.ports()
			m.launch()
			continue
		}
		m.t.Fatal(err)
	}
}

func (m *manager) pollReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for interval := 10 * time.Millisecond; ; interval = min(2*interval, 200*time.Millisecond) {
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		resp, err := http.Get("http://" + m.probes + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s readyz: HTTP %d", m.name, resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 60s: %v", m.name, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited while starting:\n%s", m.name, tail(m.log.String(), 30))
		case <-time.After(interval):
		}
	}
}

// start starts the manager again after kill or term, and waits until it is ready.
func (m *manager) start() {
	m.t.Helper()
	m.launch()
	m.waitReady()
}

func (m *manager) hasExited() bool {
	m.mu.Lock()
	ch := m.exited
	m.mu.Unlock()
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// signal sends sig to the process and waits up to timeout for it to exit.
func (m *manager) signal(sig syscall.Signal, timeout time.Duration) error {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.stopped = true
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.exitErr
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %v of %v", m.name, timeout, sig)
	}
}

// kill SIGKILLs the manager, as the kernel's OOM killer or a lost node does.
func (m *manager) kill() {
	m.t.Helper()
	fmt.Fprintf(m.log, "--- e2e: SIGKILL %s\n", m.name)
	if err := m.signal(syscall.SIGKILL, 10*time.Second); err != nil && !strings.Contains(err.Error(), "killed") {
		m.t.Fatalf("SIGKILL %s: %v", m.name, err)
	}
}

// stop ends the manager at the end of a test: SIGTERM, then SIGKILL.
func (m *manager) stop() {
	if m.hasExited() {
		return
	}
	if err := m.signal(syscall.SIGTERM, 40*time.Second); err != nil && !m.hasExited() {
		_ = m.signal(syscall.SIGKILL, 10*time.Second)
	}
}

// pid is the process ID of the running manager.
func (m *manager) pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd.Process.Pid
}

// url is the manager's callback URL.
func (m *manager) url() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return "http://" + m.callbacks + "/callback"
}

// scrape returns the manager's metrics in the text format.
func (m *manager) scrape() (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + m.metrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s metrics: HTTP %d", m.name, resp.StatusCode)
	}
	return string(b), nil
}

// metric is the value of one series, e.g. `go_goroutines` or
// `oacapacity_actions_total{action="failover",result="success"}`; absent is 0.
func (m *manager) metric(series string) (float64, error) {
	body, err := m.scrape()
	if err != nil {
		return 0, err
	}
	return metricValue(body, series), nil
}

func metricValue(body, series string) float64 {
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// leads reports whether the manager holds the Lease, by its own metric.
func (m *manager) leads() bool {
	if m.hasExited() {
		return false
	}
	v, err := m.metric(`leader_election_master_status{name="` + leaseName + `"}`)
	return err == nil && v == 1
}

// leader waits until exactly one of ms leads and returns it.
func leader(t *testing.T, ms []*manager, timeout time.Duration) *manager {
	t.Helper()
	var l *manager
	testenv.Eventually(t, timeout, func() error {
		l = nil
		n := 0
		for _, m := range ms {
			if m.leads() {
				l, n = m, n+1
			}
		}
		if n != 1 {
			return fmt.Errorf("%d of %d replicas lead", n, len(ms))
		}
		return nil
	})
	return l
}

// logLine is a manager's JSON log line.
type logLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Logger string `json:"logger"`
	Error  string `json:"error"`
	Raw    string `json:"-"`
}

// logLines parses the manager's JSON log; lines that are not JSON (the harness's own
// markers, a panic) come back with Level "" and Raw set.
func (m *manager) logLines() []logLine {
	return parseLog(m.log.String())
}

func parseLog(s string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			l = logLine{}
		}
		l.Raw = sc.Text()
		out = append(out, l)
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rss is the resident set size of a process in KiB, from /proc/<pid>/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
