// Command loadtest measures the operator under load against a baseline measured in the
// same run (docs/performance.md). It starts a local control plane (or uses
// --kubeconfig), the real manager binary, a fake Chat REST server, a notification sink
// and, in a process of its own, a bare net/http server answering the receiver's OK;
// creates the resources; fires signed callbacks at both servers with the same
// generator; and prints every figure with its ratio to the baseline.
//
//	make build && bin/loadtest [flags]      (or: make loadtest LOADTEST_ARGS=...)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

type config struct {
	kubeconfig  string
	manager     string
	phases      string
	rounds      int
	conns       int
	warmup      time.Duration
	duration    time.Duration
	dupRes      int
	burstRes    int
	burstAcc    int
	failovers   int
	scale       int
	scaleAcc    int
	recheck     time.Duration
	rateWindow  time.Duration
	drift       time.Duration
	scaleLimit  bool
	memLimit    int64
	profileDir  string
	workDir     string
	settle      time.Duration
	baselineSrv string
	relayRate   int
	growth      growthConfig
}

func main() {
	var cfg config
	// A flag set of its own: controller-runtime registers --kubeconfig on the global one.
	flag := flag.NewFlagSet("loadtest", flag.ExitOnError)
	flag.StringVar(&cfg.kubeconfig, "kubeconfig", "", "Use this cluster (CRDs installed) instead of starting a local control plane.")
	flag.StringVar(&cfg.manager, "manager", "bin/manager", "The manager binary (make build).")
	flag.StringVar(&cfg.phases, "phases", "dup,burst,failover,scale", "Phases to run, in order: dup, burst, failover, scale, restart (after scale: start-up and takeover with its resources), growth (not run by default: about 7 minutes), relay (not run by default).")
	flag.IntVar(&cfg.rounds, "rounds", 3, "Rounds of each baseline/manager comparison, alternating, for the spread.")
	flag.IntVar(&cfg.conns, "conns", 64, "Keep-alive connections of the duplicate phase.")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "Warm-up of each closed-loop run, not counted.")
	flag.DurationVar(&cfg.duration, "duration", 8*time.Second, "Measured length of each closed-loop run.")
	flag.IntVar(&cfg.dupRes, "dup-resources", 100, "Resources (3 accounts each) the duplicates go to.")
	flag.IntVar(&cfg.burstRes, "burst-resources", 50, "Resources of the burst of new events.")
	flag.IntVar(&cfg.burstAcc, "burst-accounts", 20, "Accounts per burst resource; the burst is one new event per account.")
	flag.IntVar(&cfg.failovers, "failovers", 100, "Failovers timed to the ConfigMap and to the sink.")
	flag.IntVar(&cfg.scale, "scale", 10000, "Resources of the scale phase.")
	flag.IntVar(&cfg.scaleAcc, "scale-accounts", 3, "Accounts per scale resource.")
	flag.DurationVar(&cfg.recheck, "recheck", time.Minute, "spec.recheckInterval of the scale resources.")
	flag.DurationVar(&cfg.rateWindow, "rate-window", 0, "How long to count the REST calls of the rechecks; default the recheck interval plus 30s.")
	flag.DurationVar(&cfg.drift, "drift", 3*time.Minute, "After the rechecks with counts unchanged, how long to measure them with the active accounts drifting 0.1% of their limit a minute; 0 skips it.")
	flag.BoolVar(&cfg.scaleLimit, "scale-return-limit", true, "The fake Chat returns MaxSubscriberNum in the scale phase, so the operator knows each limit and a count's step worth a write is 1% of it; false: 1% of the count.")
	flag.Int64Var(&cfg.memLimit, "manager-memory-limit", 256<<20, "MEMORY_LIMIT of the manager, in bytes, as config/manager passes the container's limit; 0 leaves it unset.")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "Save CPU and allocation profiles of the manager here (the duplicate and the burst phase).")
	flag.StringVar(&cfg.workDir, "work-dir", "", "Kubeconfig and manager log go here; default a temporary directory.")
	flag.DurationVar(&cfg.settle, "settle", 4*time.Second, "Pause after each burst, for the controller's reconciles to finish.")
	flag.IntVar(&cfg.relayRate, "relay-rate", 500, "Callbacks a second of the relay phase (open loop).")
	flag.StringVar(&cfg.baselineSrv, "baseline-server", "", "Internal: serve the bare baseline on this address.")
	growthFlags(flag, &cfg.growth)
	_ = flag.Parse(os.Args[1:])

	if cfg.baselineSrv != "" {
		if err := serveBaseline(cfg.baselineSrv); err != nil {
			fmt.Fprintln(os.Stderr, "baseline server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop() // not deferred: os.Exit would skip it
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// harness is everything a phase needs.
type harness struct {
	cfg      config
	c        client.Client
	mgr      *managerProc
	baseline string // URL of the bare server
	basePID  int    // its process
	sink     *sink
	chat     *chatapitest.Server
	cms      *cmWatch
	out      io.Writer

	dupP99   []time.Duration // of the manager in the duplicate phase, per round
	dupEvs   []event
	dupRatio []float64 // p99 manager/baseline in the duplicate phase, per round

	restCfg    *rest.Config
	kubeconfig string
}

func run(ctx context.Context, cfg config) error {
	if cfg.rateWindow == 0 {
		cfg.rateWindow = cfg.recheck + 30*time.Second
	}
	if cfg.rounds < 1 {
		return errors.New("--rounds must be at least 1")
	}
	h := &harness{cfg: cfg, out: os.Stdout}
	dir := cfg.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "oac-loadtest-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(d) }()
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	h.printMachine()

	// The cluster.
	var restCfg *rest.Config
	kubeconfig := cfg.kubeconfig
	if kubeconfig == "" {
		h.logf("starting a local control plane")
		env, err := testenv.Start()
		if err != nil {
			return err
		}
		defer func() { _ = env.Stop() }()
		kc, err := env.KubeConfig()
		if err != nil {
			return err
		}
		kubeconfig = filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
			return err
		}
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	restCfg = rest.CopyConfig(restCfg)
	h.restCfg = restCfg
	restCfg.QPS = -1 // no client-side throttling: creating 10,000 resources must not wait on it
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	if h.c, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}

	// The bare baseline, in a process of its own like the manager.
	stopBaseline, addr, basePID, err := startBaseline()
	if err != nil {
		return err
	}
	defer stopBaseline()
	h.baseline = "http://" + addr + "/callback"
	h.basePID = basePID

	// The sink and the fake Chat.
	if h.sink, err = startSink(); err != nil {
		return err
	}
	defer h.sink.close()
	fake := &chatapitest.Standalone{Out: os.Stderr, Prefix: "loadtest: fake Chat: "}
	defer fake.Close()
	h.chat = chatapitest.NewServerOn(fake, nil, scaleApp, chatAdmin, chatKey)

	// Resources that exist before the manager starts.
	phases := strings.Split(cfg.phases, ",")
	if err := h.createFixed(ctx, phases); err != nil {
		return err
	}
	if h.cms, err = watchConfigMaps(ctx, restCfg, nsFailover); err != nil {
		return err
	}
	defer h.cms.stop()

	h.kubeconfig = kubeconfig
	if h.mgr, err = h.startManager(ctx, filepath.Join(dir, "manager.log")); err != nil {
		return err
	}
	defer func() { h.mgr.stop() }()
	h.logf("manager ready (pid %d); log %s", h.mgr.cmd.Process.Pid, h.mgr.logPath)

	for _, p := range phases {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var err error
		switch strings.TrimSpace(p) {
		case "dup":
			err = h.dupPhase(ctx)
		case "burst":
			err = h.burstPhase(ctx)
		case "failover":
			err = h.failoverPhase(ctx)
		case "scale":
			err = h.scalePhase(ctx)
		case "restart":
			err = h.restartPhase(ctx)
		case "growth":
			err = h.growthPhase(ctx)
		case "relay":
			err = h.relayPhase(ctx)
		default:
			err = fmt.Errorf("unknown phase %q", p)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", p, err)
		}
	}
	return nil
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s loadtest: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(h.out, format, args...) }

func (h *harness) printMachine() {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	h.printf("machine: %s, %d CPUs; load average at start %s", cpu, numCPU(), load)
}

// startBaseline re-executes this program as the bare server.
func startBaseline() (stop func(), addr string, pid int, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", 0, err
	}
	cmd := exec.Command(self, "--baseline-server", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", 0, fmt.Errorf("start baseline server: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return nil, "", 0, fmt.Errorf("baseline server did not start: %w", err)
	}
	return stop, strings.TrimSpace(line), cmd.Process.Pid, nil
}

// managerProc is the manager under test.
type managerProc struct {
	cmd       *exec.Cmd
	logPath   string
	callback  string // URL
	metrics   string // URL
	pprof     string // base URL
	exited    chan struct{}
	stopOnce  sync.Once
	logHandle *os.File
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func (h *harness) startManager(ctx context.Context, logPath string, args ...string) (*managerProc, error) {
	var env []string
	if h.cfg.memLimit > 0 {
		env = append(os.Environ(), "MEMORY_LIMIT="+strconv.FormatInt(h.cfg.memLimit, 10))
	}
	return startManager(ctx, h.cfg.manager, h.kubeconfig, logPath, env, args...)
}

func startManager(ctx context.Context, bin, kubeconfig, logPath string, env []string, args ...string) (*managerProc, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("manager binary: %w (run make build)", err)
	}
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	cb, metrics, probe, pprof := addrs[0], addrs[1], addrs[2], addrs[3]
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig,
		"--callback-bind-address", cb,
		"--metrics-secure=false", "--metrics-bind-address", metrics,
		"--health-probe-bind-address", probe,
		"--pprof-bind-address", pprof,
		"--callback-shutdown-delay", "1s")
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start manager: %w", err)
	}
	m := &managerProc{cmd: cmd, logPath: logPath, logHandle: logf, exited: make(chan struct{}),
		callback: "http://" + cb + "/callback", metrics: "http://" + metrics + "/metrics", pprof: "http://" + pprof}
	go func() { _ = cmd.Wait(); close(m.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		select {
		case <-m.exited:
			return nil, fmt.Errorf("manager exited; see %s", logPath)
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("manager not ready after 60s; see %s", logPath)
		}
	}
}

func (m *managerProc) stop() {
	m.stopOnce.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
		_ = m.logHandle.Close()
	})
}

func (m *managerProc) scrape() (string, error) {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	return string(raw), err
}

// statusWrites is oacapacity_status_writes_total{result="success"}.
func (m *managerProc) statusWrites() float64 {
	return m.counter("oacapacity_status_writes_total", `result="success"`)
}

// counter is the value of a metric of the manager now; -1 when it cannot be read.
func (m *managerProc) counter(name string, labels ...string) float64 {
	text, err := m.scrape()
	if err != nil {
		return -1
	}
	v, _ := metricValue(text, name, labels...)
	return v
}

// resources is the manager's RSS (and its peak) and goroutine count now.
func (m *managerProc) resources() (rssMiB, peakMiB float64, goroutines float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err == nil {
		for line := range strings.Lines(string(raw)) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				switch f[0] {
				case "VmRSS:":
					rssMiB = kb / 1024
				case "VmHWM:":
					peakMiB = kb / 1024
				}
			}
		}
	}
	if text, err := m.scrape(); err == nil {
		goroutines, _ = metricValue(text, "go_goroutines")
	}
	return rssMiB, peakMiB, goroutines
}

// profile saves the manager's CPU profile over d, taken while load runs.
func (h *harness) cpuProfile(name string, d time.Duration) func() {
	if h.cfg.profileDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.save(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", h.mgr.pprof, int(d.Seconds())), name+"-cpu.pb.gz")
	}()
	return func() { <-done }
}

func (h *harness) save(url, name string) {
	resp, err := http.Get(url)
	if err != nil {
		h.logf("profile %s: %v", name, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(filepath.Join(h.cfg.profileDir, name))
	if err != nil {
		h.logf("profile %s: %v", name, err)
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = io.Copy(f, resp.Body)
}

// allocProfile saves the manager's cumulative allocation profile; compare two with
// go tool pprof -base.
func (h *harness) allocProfile(name string) {
	if h.cfg.profileDir != "" {
		h.save(h.mgr.pprof+"/debug/pprof/allocs", name+"-allocs.pb.gz")
	}
}

func (h *harness) printRun(label string, st runStats) {
	keys := make([]string, 0, len(st.answers))
	for k := range st.answers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var answers []string
	for _, k := range keys {
		answers = append(answers, fmt.Sprintf("%d× %s", st.answers[k], k))
	}
	h.printf("  %-22s %7d sent, %8.0f/s  %s  [%s]\n", label, st.sent, st.rps, st.lat, strings.Join(answers, ", "))
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// cpuSeconds is the CPU time (user and system) used so far by this process and its
// children (the control plane, the manager, the baseline), by command name, and by
// the whole machine ("machine"): what bounds a figure shows in where the CPU went.
// Others' processes of the same names (a test suite's envtest) are not counted.
func cpuSeconds(names ...string) map[string]float64 {
	out := map[string]float64{}
	self := strconv.Itoa(os.Getpid())
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(raw)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm := s[open+1 : end]
		if !slices.Contains(names, comm) {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 || d.Name() != self && f[1] != self {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[comm] += (ut + st) / 100 // USER_HZ
	}
	// The whole machine: other work on it shows as CPU none of these used.
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(raw), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 { // idle, iowait
				continue
			}
			v, _ := strconv.ParseFloat(f[i], 64)
			out["machine"] += v / 100
		}
	}
	return out
}

var cpuNames = []string{"kube-apiserver", "etcd", "manager", "loadtest"}

// cpuDelta formats the CPU seconds used between two cpuSeconds readings.
func cpuDelta(a, b map[string]float64) string {
	var parts []string
	ours := 0.0
	for _, n := range cpuNames {
		parts = append(parts, fmt.Sprintf("%s %.2fs", n, b[n]-a[n]))
		ours += b[n] - a[n]
	}
	return fmt.Sprintf("CPU %s; the rest of the machine %.2fs", strings.Join(parts, ", "), b["machine"]-a["machine"]-ours)
}

// apiRequests is kube-apiserver's apiserver_request_total now, summed by verb,
// resource and subresource ("PATCH officialaccountcapacities/status"): what the API
// server spent a phase on.
func (h *harness) apiRequests() map[string]float64 {
	hc, err := rest.HTTPClientFor(h.restCfg)
	if err != nil {
		return nil
	}
	resp, err := hc.Get(strings.TrimSuffix(h.restCfg.Host, "/") + "/metrics")
	if err != nil {
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(raw)) {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		end := strings.Index(rest, "}")
		if end < 0 {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(rest[:end], ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(v, `"`)
		}
		if labels["verb"] == "WATCH" || labels["resource"] == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[end+1:]), 64)
		if err != nil {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		out[key] += v
	}
	return out
}

// apiDelta formats the API requests made between two apiRequests readings.
func apiDelta(a, b map[string]float64) string {
	var parts []string
	for k, v := range b {
		if d := v - a[k]; d >= 1 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, d))
		}
	}
	slices.Sort(parts)
	return "API requests: " + strings.Join(parts, ", ")
}
