package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

var (
	errQueueFull    = errors.New("too many events are waiting to be written")
	errShuttingDown = errors.New("the server is shutting down")
	errResourceGone = errors.New("the resource no longer exists")
)

// writeFailureIsError is how long status writes may fail in a row before a retry is
// logged as an error rather than as information.
const writeFailureIsError = 5 * time.Second

// recorder writes "account full" events into status. Events for one resource are
// merged into one write (group commit) by a writer goroutine of that resource, which
// lives while it has work. A write that fails for a reason that may pass (the API
// server is down, a timeout) is retried with backoff until it succeeds, so an accepted
// event is never lost while the process runs; the number of waiting events is bounded.
type recorder struct {
	client  client.Client // reads from the cache, writes to the API server
	reader  client.Reader // fresh reads after a conflict
	metrics *metrics
	log     logr.Logger

	maxQueued      int
	slots          chan struct{} // one per status write in flight; see newRecorder
	attemptTimeout time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration

	ctx    context.Context // cancelled when draining gives up
	cancel context.CancelFunc

	mu      sync.Mutex
	queues  map[types.NamespacedName]*queue
	queued  int
	closed  bool
	writers sync.WaitGroup
}

type queue struct {
	incoming []*pending
}

// pending is an accepted event; done receives the outcome of its write, once.
type pending struct {
	ev   fullEvent
	done chan writeResult
}

// writeResult is how the write of one event ended: written is false when status
// already held it (a re-delivery the cache had not shown yet).
type writeResult struct {
	written bool
	err     error
}

// newRecorder makes a recorder that keeps at most maxQueued events waiting and at
// most maxWrites status writes in flight. The bound on writes is what batches a
// burst: the API server spends its CPU per write, not per event, so a writer that
// waits for a slot takes every event queued meanwhile into its one write, instead of
// all writers sending one-event writes at once that share the API server's CPU and
// all finish late.
func newRecorder(c client.Client, reader client.Reader, m *metrics, log logr.Logger, maxQueued, maxWrites int) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	return &recorder{
		client: c, reader: reader, metrics: m, log: log,
		maxQueued:      maxQueued,
		slots:          make(chan struct{}, maxWrites),
		attemptTimeout: time.Second,
		minBackoff:     50 * time.Millisecond,
		maxBackoff:     5 * time.Second,
		ctx:            ctx,
		cancel:         cancel,
		queues:         make(map[types.NamespacedName]*queue),
	}
}

// enqueue accepts ev for the resource key; the caller waits on the returned done.
func (r *recorder) enqueue(key types.NamespacedName, ev fullEvent) (*pending, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errShuttingDown
	}
	if r.queued >= r.maxQueued {
		r.metrics.dropped.WithLabelValues("queue_full").Inc()
		return nil, errQueueFull
	}
	p := &pending{ev: ev, done: make(chan writeResult, 1)}
	q, ok := r.queues[key]
	if !ok {
		q = &queue{}
		r.queues[key] = q
		r.writers.Add(1)
		go r.run(key)
	}
	q.incoming = append(q.incoming, p)
	r.queued++
	r.metrics.queueDepth.Set(float64(r.queued))
	return p, nil
}

// run is the writer of one resource: it takes everything queued, writes it in one
// status patch, and repeats until the queue is empty.
func (r *recorder) run(key types.NamespacedName) {
	defer r.writers.Done()
	log := r.log.WithValues("officialAccountCapacity", key)
	var work []*pending
	var last *chatv1alpha1.OfficialAccountCapacity // the object as our last write left it
	delay := r.minBackoff
	var failingSince time.Time // of the writes failing in a row; zero when the last one worked
	for {
		r.mu.Lock()
		if len(work) == 0 && len(r.queues[key].incoming) == 0 {
			delete(r.queues, key)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()

		if r.ctx.Err() != nil {
			r.mu.Lock()
			q := r.queues[key]
			work = append(work, q.incoming...)
			q.incoming = nil
			r.mu.Unlock()
			err := fmt.Errorf("gave up at shutdown: %w", r.ctx.Err())
			log.Error(err, "events not written", "events", len(work))
			r.metrics.dropped.WithLabelValues("shutdown").Add(float64(len(work)))
			r.finish(work, nil, err)
			work = nil
			continue // answers whatever is still queued the same way
		}

		// Wait for a write slot, then take everything queued by then.
		select {
		case r.slots <- struct{}{}:
		case <-r.ctx.Done():
			continue
		}
		r.mu.Lock()
		q := r.queues[key]
		work = append(work, q.incoming...)
		q.incoming = nil
		r.mu.Unlock()
		obj, written, err := r.writeHeld(key, work, last)
		switch {
		case err == nil:
			last = obj
		case permanent(err) && len(work) > 1:
			// One bad event must not take the others down with it: write them one by
			// one, and keep those that failed for a passing reason.
			var retry []*pending
			for _, p := range work {
				_, written, err := r.write(key, []*pending{p}, nil)
				switch {
				case err == nil:
					r.finish([]*pending{p}, written, nil)
				case permanent(err):
					r.drop(log, []*pending{p}, err)
				default:
					retry = append(retry, p)
				}
			}
			work, last = retry, nil
			continue
		case permanent(err):
			r.drop(log, work, err)
			work, last = nil, nil
			continue
		default:
			// A slow moment of the API server is retried quietly; one that lasts is an
			// error to look at.
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) < writeFailureIsError {
				log.Info("status write failed; retrying", "events", len(work), "retryIn", delay, "error", err.Error())
			} else {
				log.Error(err, "status write failed; retrying", "events", len(work), "retryIn", delay, "failingFor", time.Since(failingSince).Round(time.Second))
			}
			r.metrics.writes.WithLabelValues("error").Inc()
			last = nil
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
			}
			delay = min(delay*2, r.maxBackoff)
			continue
		}
		r.finish(work, written, nil)
		work = nil
		delay = r.minBackoff
		failingSince = time.Time{}
	}
}

// writeHeld is write for a writer that holds a slot; it gives the slot back.
func (r *recorder) writeHeld(key types.NamespacedName, work []*pending, base *chatv1alpha1.OfficialAccountCapacity) (*chatv1alpha1.OfficialAccountCapacity, []bool, error) {
	defer func() { <-r.slots }()
	return r.write(key, work, base)
}

// permanent reports whether a write error cannot pass by retrying the same events.
func permanent(err error) bool {
	return errors.Is(err, errResourceGone) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)
}

// drop gives up on events that cannot be written, loudly.
func (r *recorder) drop(log logr.Logger, work []*pending, err error) {
	reason := "invalid"
	if errors.Is(err, errResourceGone) {
		reason = "resource_gone"
	}
	log.Error(err, "dropping events that cannot be written", "events", len(work))
	r.metrics.writes.WithLabelValues("dropped").Inc()
	r.metrics.dropped.WithLabelValues(reason).Add(float64(len(work)))
	r.finish(work, nil, err)
}

// finish tells the waiters of work how their write ended; written, when not nil,
// says for each whether it changed status.
func (r *recorder) finish(work []*pending, written []bool, err error) {
	for i, p := range work {
		p.done <- writeResult{written: err == nil && written[i], err: err}
	}
	r.mu.Lock()
	r.queued -= len(work)
	r.metrics.queueDepth.Set(float64(r.queued))
	r.mu.Unlock()
}

// write applies work to the resource and patches its status, with the resource
// version as a precondition; on a conflict it reads the resource afresh and tries
// again. base, when set, is the object as this writer last wrote it, which saves a read
// and the conflict a lagging cache would cause. It reports which events changed status.
func (r *recorder) write(key types.NamespacedName, work []*pending, base *chatv1alpha1.OfficialAccountCapacity) (*chatv1alpha1.OfficialAccountCapacity, []bool, error) {
	events := make([]fullEvent, len(work))
	for i, p := range work {
		events[i] = p.ev
	}
	const maxConflicts = 5
	var reader client.Reader = r.client
	for conflicts := 0; ; conflicts++ {
		ctx, cancel := context.WithTimeout(r.ctx, r.attemptTimeout)
		obj, written, err := r.patch(ctx, reader, key, events, base)
		cancel()
		if !apierrors.IsConflict(err) || conflicts == maxConflicts {
			return obj, written, err
		}
		r.metrics.writes.WithLabelValues("conflict").Inc()
		reader, base = r.reader, nil
	}
}

func (r *recorder) patch(ctx context.Context, reader client.Reader, key types.NamespacedName, events []fullEvent, base *chatv1alpha1.OfficialAccountCapacity) (*chatv1alpha1.OfficialAccountCapacity, []bool, error) {
	obj := &chatv1alpha1.OfficialAccountCapacity{}
	if base != nil {
		base.DeepCopyInto(obj)
	} else if err := reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("%w: %w", errResourceGone, err)
		}
		// The cache refuses reads once the manager stops; draining goes on from the
		// API server.
		if reader == r.reader {
			return nil, nil, fmt.Errorf("read %s: %w", key, err)
		}
		return r.patch(ctx, r.reader, key, events, nil)
	}
	orig := obj.DeepCopy()
	written := applyFullEvents(obj, events)
	if !slices.Contains(written, true) {
		return obj, written, nil // everything was already recorded
	}
	err := r.client.Status().Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	switch {
	case err == nil:
		r.metrics.writes.WithLabelValues("success").Inc()
		r.metrics.writeEvents.Observe(float64(len(events)))
		return obj, written, nil
	case apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("%w: %w", errResourceGone, err)
	default:
		return nil, nil, fmt.Errorf("patch status of %s: %w", key, err)
	}
}

// drain stops accepting events and waits until every accepted one is written, or
// until ctx ends; then it gives up on the rest and says how many were lost.
func (r *recorder) drain(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	left := r.queued
	r.mu.Unlock()
	if left > 0 {
		r.log.Info("writing queued events before exit", "events", left)
	}
	done := make(chan struct{})
	go func() { r.writers.Wait(); close(done) }()
	select {
	case <-done:
		r.cancel()
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	left = r.queued
	r.mu.Unlock()
	r.cancel()
	<-done
	return fmt.Errorf("%d events were not written before the drain deadline", left)
}
