// Command manager runs oa-capacity-operator: the receiver of Tencent Cloud Chat's
// "Official Account full" callbacks and the controller that acts on them.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/controllers"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
	"github.com/oacapacity/oa-capacity-operator/webhookserver"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

type options struct {
	metricsAddr    string
	metricsSecure  bool
	metricsCertDir string
	probeAddr      string
	pprofAddr      string
	accountMetrics bool
	leaderElect    bool
	leaderElectNS  string
	leaderElectID  string
	watchNS        string
	watchSelector  string
	callbacks      webhookserver.Options
	zap            zap.Options
}

func parseFlags(args []string) (options, error) {
	var o options
	d := webhookserver.DefaultOptions() // the receiver's defaults are the flags' defaults
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	config.RegisterFlags(fs) // --kubeconfig
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "Address the Prometheus metrics endpoint (/metrics) binds to; 0 turns it off.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true, "Serve metrics over HTTPS to clients the API server authenticates (TokenReview) and authorizes (SubjectAccessReview: get on /metrics). false serves plain HTTP to anyone: for local development only.")
	fs.StringVar(&o.metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the metrics endpoint; empty uses a self-signed certificate.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address the Go profiler (net/http/pprof) binds to; 0 turns it off. It serves anyone who can connect: bind it to loopback, for profiling only.")
	fs.BoolVar(&o.accountMetrics, "account-metrics", true, "Export the per-account gauges (oacapacity_account_*): one series per account of every pool and metric. false keeps only the per-resource ones.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so that only one replica acts; callbacks are served by every replica.")
	fs.StringVar(&o.leaderElectNS, "leader-election-namespace", "", "Namespace of the leader election Lease; defaults to the pod's namespace.")
	fs.StringVar(&o.leaderElectID, "leader-election-id", "oa-capacity-operator.chat.oacapacity.io", "Name of the leader election Lease; shards in one namespace need one each.")
	fs.StringVar(&o.watchNS, "watch-namespaces", "", "Comma-separated namespaces whose resources this manager serves; empty: every namespace. With --watch-selector, one way to shard a large fleet over managers (docs/performance.md): keep the resources of one app in one shard.")
	fs.StringVar(&o.watchSelector, "watch-selector", "", "Label selector of the OfficialAccountCapacities this manager serves (e.g. shard=a); empty: all of them. The others are invisible to it: keep the resources of one app in one shard.")
	fs.StringVar(&o.callbacks.BindAddress, "callback-bind-address", d.BindAddress, "Address the Chat callback server binds to.")
	fs.StringVar(&o.callbacks.Path, "callback-path", d.Path, "URL path of the Chat callback; configure the console's webhook URL with it.")
	fs.StringVar(&o.callbacks.CertDir, "callback-cert-dir", "", "Directory with tls.crt and tls.key for the callback server; empty serves plain HTTP (terminate TLS in front).")
	fs.Int64Var(&o.callbacks.MaxBodyBytes, "callback-max-body-bytes", d.MaxBodyBytes, "Largest callback body accepted; larger ones are answered 413.")
	fs.DurationVar(&o.callbacks.MaxClockSkew, "callback-max-clock-skew", d.MaxClockSkew, "How far a signed callback's RequestTime may be from now.")
	fs.DurationVar(&o.callbacks.WriteTimeout, "callback-write-timeout", d.WriteTimeout, "How long a callback is held open waiting for its status write before the answer is FAIL (the event stays queued). Past the Chat backend's 2s it has timed out and, with its retry on, re-sends: never answering FAIL early is what makes it re-send.")
	fs.BoolVar(&o.callbacks.AllowUnsigned, "callback-allow-unsigned", false, "Accept callbacks without a Sign for resources whose credentials Secret has no callbackToken; by default they are refused (401). For local development.")
	fs.IntVar(&o.callbacks.QueueSize, "callback-queue-size", d.QueueSize, "Most events accepted but not yet written; more are answered FAIL.")
	fs.DurationVar(&o.callbacks.ShutdownDelay, "callback-shutdown-delay", d.ShutdownDelay, "On shutdown, how long to go on serving callbacks, marked not ready, while the Service stops sending them here.")
	fs.DurationVar(&o.callbacks.DrainTimeout, "callback-drain-timeout", d.DrainTimeout, "On shutdown, how long then to wait for queued events to be written; with the delay, keep it under the pod's termination grace period.")
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, validate(o)
}

// validate refuses flag values the server would take for "use the default" or that
// break the protocol, before anything starts.
func validate(o options) error {
	cb := o.callbacks
	switch {
	case cb.WriteTimeout < 2*time.Second || cb.WriteTimeout > time.Minute:
		return fmt.Errorf("--callback-write-timeout %v must be from the Chat backend's 2s timeout to 1m", cb.WriteTimeout)
	case cb.MaxBodyBytes <= 0:
		return fmt.Errorf("--callback-max-body-bytes %d must be positive", cb.MaxBodyBytes)
	case cb.MaxClockSkew <= 0:
		return fmt.Errorf("--callback-max-clock-skew %v must be positive", cb.MaxClockSkew)
	case cb.QueueSize <= 0:
		return fmt.Errorf("--callback-queue-size %d must be positive", cb.QueueSize)
	case cb.ShutdownDelay <= 0 || cb.DrainTimeout <= 0:
		return fmt.Errorf("--callback-shutdown-delay %v and --callback-drain-timeout %v must be positive", cb.ShutdownDelay, cb.DrainTimeout)
	}
	_, err := cacheOptions(o)
	return err
}

// cacheOptions is the manager's cache: the objects the controller watches, without
// what nobody reads (controllers.CacheTransform), and, for a shard, only the
// namespaces of --watch-namespaces and the resources of --watch-selector.
func cacheOptions(o options) (cache.Options, error) {
	opts := cache.Options{ByObject: controllers.CacheByObject(), DefaultTransform: controllers.CacheTransform()}
	if o.watchNS != "" {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(o.watchNS, ",") {
			ns = strings.TrimSpace(ns)
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				return opts, fmt.Errorf("--watch-namespaces: %q: %s", ns, strings.Join(errs, "; "))
			}
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if o.watchSelector != "" {
		sel, err := labels.Parse(o.watchSelector)
		if err != nil {
			return opts, fmt.Errorf("--watch-selector: %w", err)
		}
		opts.ByObject[&chatv1alpha1.OfficialAccountCapacity{}] = cache.ByObject{Label: sel}
	}
	return opts, nil
}

// The manager's cache watches OfficialAccountCapacities for both the callback receiver
// and the reconciler; each adds the rights of its own next to its code.
// +kubebuilder:rbac:groups=chat.oacapacity.io,resources=officialaccountcapacities,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// The metrics endpoint asks the API server who a scraper is and whether it may get /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsOptions serves /metrics over HTTPS to authenticated and authorized clients,
// as kubebuilder scaffolds it, or, with --metrics-secure=false, over plain HTTP.
func metricsOptions(o options) metricsserver.Options {
	if !o.metricsSecure {
		return metricsserver.Options{BindAddress: o.metricsAddr}
	}
	return metricsserver.Options{
		BindAddress:    o.metricsAddr,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		CertDir:        o.metricsCertDir, // empty: controller-runtime's self-signed certificate
		// HTTP/1.1 only: HTTP/2 exposes the server to stream-reset floods
		// (CVE-2023-44487) and a scrape gains nothing from it.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
}

func newScheme() (*apiruntime.Scheme, error) {
	scheme := apiruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("add client-go types: %w", err)
	}
	if err := chatv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("add %s types: %w", chatv1alpha1.GroupVersion, err)
	}
	return scheme, nil
}

// memoryLimitShare is the part of the container's memory limit the Go heap may use
// before the garbage collector works harder to stay under it; the rest is for the
// runtime's own memory, stacks and what the scavenger has not returned yet.
const memoryLimitShare = 0.9

// setMemoryLimit gives the Go runtime a soft memory limit of 90% of MEMORY_LIMIT,
// the container's memory limit in bytes (config/manager passes it by the downward
// API), so that a burst of garbage (the initial LIST of a large cluster) is collected
// before it reaches the limit rather than killed by it. GOMEMLIMIT, when set, is the
// runtime's own setting and wins. It returns the limit set, 0 for none.
func setMemoryLimit(getenv func(string) string) (int64, error) {
	limit, err := memoryLimit(getenv)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit, err
}

// memoryLimit is the limit setMemoryLimit sets: 0 when GOMEMLIMIT is set or
// MEMORY_LIMIT is not. (A container without a memory limit gets the node's
// allocatable memory from the downward API: a limit that does no harm.)
func memoryLimit(getenv func(string) string) (int64, error) {
	raw := getenv("MEMORY_LIMIT")
	if getenv("GOMEMLIMIT") != "" || raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("MEMORY_LIMIT %q: want the container's memory limit in bytes (resourceFieldRef limits.memory)", raw)
	}
	return int64(float64(n) * memoryLimitShare), nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("setup")
	if limit, err := setMemoryLimit(os.Getenv); err != nil {
		return err
	} else if limit > 0 {
		log.Info("Go memory limit set from the container's", "bytes", limit)
	}

	scheme, err := newScheme()
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cacheOpts, err := cacheOptions(o)
	if err != nil {
		return err
	}
	// The manager waits this long for runnables; the callback server needs its delay
	// and its drain.
	shutdown := o.callbacks.ShutdownDelay + o.callbacks.DrainTimeout + 2*time.Second
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsOptions(o),
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectID,
		LeaderElectionNamespace:       o.leaderElectNS,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdown,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	// The receiver and the reconciler look resources up by the same indexes.
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("set up cache indexes: %w", err)
	}
	// The callback receiver runs on every replica.
	o.callbacks.Logger = ctrl.Log
	callbacks, err := webhookserver.AddToManager(mgr, o.callbacks)
	if err != nil {
		return fmt.Errorf("set up callback server: %w", err)
	}
	// The reconciler runs on the leader only.
	metrics, err := controllers.NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return err
	}
	metrics.PerAccount = o.accountMetrics
	rec := &controllers.OfficialAccountCapacityReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Events:    mgr.GetEventRecorder("oa-capacity-operator"),
		Chat:      &controllers.ChatClients{Metrics: metrics},
		Metrics:   metrics,
	}
	if err := rec.SetupWithManager(mgr, controller.Options{}); err != nil {
		return fmt.Errorf("set up controller: %w", err)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readyz check: %w", err)
	}

	log.Info("starting manager", "metricsAddress", o.metricsAddr, "metricsSecure", o.metricsSecure, "probeAddress", o.probeAddr,
		"callbackAddress", o.callbacks.BindAddress, "callbackPath", o.callbacks.Path, "leaderElection", o.leaderElect)
	err = mgr.Start(ctx)
	// A lost leader Lease stops the manager at once, without the graceful shutdown; the
	// callback server, which every replica runs, still finishes its own, so that the
	// events it accepted are written rather than lost with the process.
	waitCtx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	if werr := callbacks.Wait(waitCtx); werr != nil {
		log.Error(werr, "exiting before the callback queue was written")
	}
	if err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}
