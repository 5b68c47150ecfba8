// Package webhookserver is the Chat callback receiver, not a Kubernetes admission webhook.
// It receives Tencent Cloud Chat's
// OfficialAccount.CallbackAfterOfficialAccountFull callbacks and records each one in
// the status of the OfficialAccountCapacity that lists the account. It is thin on
// purpose: authenticate, parse, find the resource through a cache index, write the
// fact, answer. It never calls the Chat REST API nor notifies anyone; the controllers
// act on what it records. It runs on every replica, so a Service in front of several
// replicas is active-active.
package webhookserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Writing status, reading credentials Secrets (GET only, never list or watch).
// +kubebuilder:rbac:groups=chat.oacapacity.io,resources=officialaccountcapacities/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Options configures the callback server. The zero value of a field means its default.
type Options struct {
	// BindAddress is the address to listen on; default ":9292".
	BindAddress string
	// Path is the URL path callbacks are POSTed to; default "/callback".
	Path string
	// CertDir, when set, holds tls.crt and tls.key; the server then speaks TLS 1.2+
	// and picks up renewed certificates without a restart.
	CertDir string
	// MaxBodyBytes caps a callback body; default 64 KiB.
	MaxBodyBytes int64
	// MaxClockSkew is how far RequestTime may be from now; default 60 s.
	MaxClockSkew time.Duration
	// WriteTimeout is how long a callback waits for its status write; default 10 s.
	// Past the Chat backend's 2 s the backend has timed out, and re-sends the
	// callback when its retry is on: holding the request rather than answering FAIL
	// is what makes it re-send (it never re-sends on FAIL), so an event queued here
	// and lost with the process comes back. When the write lands in time the answer
	// is OK; else FAIL, and the event stays queued.
	WriteTimeout time.Duration
	// AllowUnsigned accepts callbacks without a Sign for resources whose Secret has
	// no callbackToken; by default they are refused.
	AllowUnsigned bool
	// QueueSize bounds the events accepted but not yet written; default 10000.
	QueueSize int
	// MaxConcurrentWrites bounds the status writes in flight, all resources
	// together; default 8. Events that arrive while their resource waits for a
	// slot join its next write, so a burst costs about one write per resource.
	MaxConcurrentWrites int
	// ShutdownDelay is how long the server goes on serving, marked not ready, after
	// it is told to stop; default 5 s.
	ShutdownDelay time.Duration
	// DrainTimeout bounds how long shutdown then waits for queued events; default 20 s.
	DrainTimeout time.Duration
	// LogInterval is how often a repeated condition (an unknown account, an unsigned
	// app) is logged; default 10 min.
	LogInterval time.Duration
	// Registerer receives the metrics; default controller-runtime's registry, which
	// the manager's metrics endpoint serves.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default a discarding logger.
	Logger logr.Logger
}

// DefaultOptions are the Options a zero field stands for: the manager's flags take
// their defaults from here, so that the two cannot disagree.
func DefaultOptions() Options {
	var o Options
	o.setDefaults()
	return o
}

func (o *Options) setDefaults() {
	if o.BindAddress == "" {
		o.BindAddress = ":9292"
	}
	if o.Path == "" {
		o.Path = "/callback"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.MaxConcurrentWrites <= 0 {
		o.MaxConcurrentWrites = 8
	}
	if o.ShutdownDelay <= 0 {
		o.ShutdownDelay = 5 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 20 * time.Second
	}
	if o.LogInterval <= 0 {
		o.LogInterval = 10 * time.Minute
	}
	if o.Registerer == nil {
		o.Registerer = ctrlmetrics.Registry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is the callback receiver. It is a manager.Runnable that runs on every
// replica, leader or not.
type Server struct {
	opts     Options
	cache    client.Reader
	index    resourceIndex // the cache's indexes as maps, when cache has informers
	tokens   *tokens
	recorder *recorder
	relay    *relayer
	metrics  *metrics
	log      logr.Logger

	unknownAccounts *onceEvery
	unsigned        *onceEvery
	credFailures    *onceEvery

	mu       sync.Mutex
	addr     net.Addr
	ready    chan struct{}
	stopped  chan struct{}
	stopping atomic.Bool
}

// New creates a server. cache must have the indexes of index.Setup; c writes status
// (and may read from the same cache); apiReader reads Secrets and fresh objects.
func New(cache client.Reader, c client.Client, apiReader client.Reader, opts Options) (*Server, error) {
	opts.setDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	log := opts.Logger.WithName("callbacks")
	return &Server{
		opts:            opts,
		cache:           cache,
		tokens:          newTokens(apiReader, opts.Now),
		recorder:        newRecorder(c, apiReader, m, log, opts.QueueSize, opts.MaxConcurrentWrites),
		relay:           newRelayer(m, log, opts.Now),
		metrics:         m,
		log:             log,
		unknownAccounts: newOnceEvery(opts.LogInterval, 1024, opts.Now),
		unsigned:        newOnceEvery(opts.LogInterval, 1024, opts.Now),
		credFailures:    newOnceEvery(time.Minute, 1024, opts.Now),
		ready:           make(chan struct{}),
		stopped:         make(chan struct{}),
	}, nil
}

// AddToManager creates the server and adds it to mgr, with a readiness check that
// passes once the server listens. The manager's cache must have the indexes of
// index.Setup.
func AddToManager(mgr manager.Manager, opts Options) (*Server, error) {
	if opts.Logger.GetSink() == nil {
		opts.Logger = mgr.GetLogger()
	}
	s, err := New(mgr.GetCache(), mgr.GetClient(), mgr.GetAPIReader(), opts)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(s); err != nil {
		return nil, fmt.Errorf("add callback server to manager: %w", err)
	}
	if err := mgr.AddReadyzCheck("callbacks", s.ReadyCheck); err != nil {
		return nil, fmt.Errorf("add callback readiness check: %w", err)
	}
	return s, nil
}

// NeedLeaderElection is false: every replica receives callbacks.
func (s *Server) NeedLeaderElection() bool { return false }

// ReadyCheck fails until the server listens, and again once it is stopping, so that
// the Service sends callbacks to other replicas.
func (s *Server) ReadyCheck(_ *http.Request) error {
	select {
	case <-s.ready:
	default:
		return errors.New("callback server is not listening yet")
	}
	if s.stopping.Load() {
		return errors.New("callback server is stopping")
	}
	return nil
}

// Wait waits until Start has returned, or ctx ends. A manager that loses its leader
// Lease stops without waiting for its runnables; the process waits here so that the
// callbacks in flight are answered and the queue is written before it exits.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("callback server still stopping: %w", ctx.Err())
	}
}

// Addr waits until the server listens and returns its address, or nil when ctx ends
// first.
func (s *Server) Addr(ctx context.Context) net.Addr {
	select {
	case <-s.ready:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.addr
	case <-ctx.Done():
		return nil
	}
}

// Start serves callbacks until ctx ends; then it stops accepting connections, lets the
// callbacks in flight finish, and writes the queued events before it returns.
func (s *Server) Start(ctx context.Context) error {
	defer close(s.stopped)
	srv := &http.Server{
		Handler:           s.route(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      s.opts.WriteTimeout + 5*time.Second, // room for a held callback's answer
		// "OPTIONS *" reaches the handler (and gets its 404) instead of Go's own answer.
		DisableGeneralOptionsHandler: true,
		IdleTimeout:                  2 * time.Minute, // the Chat backend keeps connections alive
		MaxHeaderBytes:               16 << 10,
		ErrorLog:                     log.New(logWriter{s.log}, "", 0),
		BaseContext:                  func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.opts.CertDir != "" {
		cw, err := certwatcher.New(filepath.Join(s.opts.CertDir, "tls.crt"), filepath.Join(s.opts.CertDir, "tls.key"))
		if err != nil {
			return fmt.Errorf("load callback certificate from %s: %w", s.opts.CertDir, err)
		}
		go func() {
			if err := cw.Start(ctx); err != nil {
				s.log.Error(err, "certificate watcher stopped")
			}
		}()
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cw.GetCertificate}
	}

	if informers, ok := s.cache.(cache.Informers); ok {
		if err := s.index.start(ctx, informers); err != nil {
			// Lookups go on through the cache's List.
			s.log.Error(err, "cannot index resources in memory; looking them up in the cache")
		}
	}

	s.relay.start()
	ln, err := net.Listen("tcp", s.opts.BindAddress)
	if err != nil {
		s.relay.shutdown(ctx)
		return fmt.Errorf("listen for callbacks on %s: %w", s.opts.BindAddress, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("serving callbacks", "address", ln.Addr().String(), "path", s.opts.Path, "tls", s.opts.CertDir != "")
	if s.opts.AllowUnsigned {
		s.log.Info("--callback-allow-unsigned: callbacks without a Sign are accepted for resources whose Secret has no callbackToken; for local development only")
	}

	serveErr := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()

	var serveFailed error
	select {
	case err := <-serveErr:
		serveFailed = fmt.Errorf("serve callbacks: %w", err)
		s.log.Error(err, "callback server failed")
	case <-ctx.Done():
		// Endpoints are taken out of the Service asynchronously: go on serving a
		// while, marked not ready and closing each connection after its answer,
		// so that callbacks sent meanwhile are not refused.
		s.stopping.Store(true)
		srv.SetKeepAlivesEnabled(false)
		s.log.Info("stopping: not ready; serving callbacks a little longer", "for", s.opts.ShutdownDelay)
		t := time.NewTimer(s.opts.ShutdownDelay)
		select {
		case <-t.C:
		case err := <-serveErr:
			t.Stop()
			serveFailed = fmt.Errorf("serve callbacks: %w", err)
		}
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
	defer cancel()
	s.log.Info("stopping: no new callbacks; finishing those in flight and the queue")
	shutdownErr := srv.Shutdown(drainCtx)
	if shutdownErr != nil {
		shutdownErr = fmt.Errorf("finish callbacks in flight: %w", shutdownErr)
	}
	drained := s.recorder.drain(drainCtx)
	s.relay.shutdown(drainCtx) // best effort: what is left is counted, not relayed
	return errors.Join(serveFailed, shutdownErr, drained)
}

// route serves the callback on its exact path only; anything else is a 404 in the same
// JSON shape. No path cleaning: http.ServeMux would answer "//callback" or
// "/a/../callback" with a redirect whose Location repeats the query, Sign included.
func (s *Server) route() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == s.opts.Path && r.URL.RawPath == "" {
			s.ServeHTTP(w, r)
			return
		}
		writeAnswer(w, http.StatusNotFound, failAnswer(http.StatusNotFound, "no callback is served at this path"))
	})
}

// logWriter sends net/http's own error lines (TLS handshakes, bad requests) to logr.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info(string(p))
	return len(p), nil
}
