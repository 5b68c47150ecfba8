package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// sink is a notification receiver of type webhook: it checks the signature as
// docs/notifications.md tells receivers to, records every request, and answers as
// the test tells it to (fail, hold, accept and hold the answer).
type sink struct {
	t    *testing.T
	srv  *httptest.Server
	path string // carries the target's token, as robot URLs do
	key  string // signingKey

	done chan struct{} // closed at the end of the test: held requests end

	mu       sync.Mutex
	attempts []sinkAttempt
	plan     []sinkStep
}

// sinkAttempt is one request that reached the sink.
type sinkAttempt struct {
	at       time.Time
	id       string
	kind     string
	text     string
	status   int  // the status answered; 0 when the client went away first
	accepted bool // answered 2xx (or accepted before a held answer)
}

// sinkStep says how to answer one request; the zero value accepts it.
type sinkStep struct {
	status     int           // a failure status to answer (with no accept)
	retryAfter string        // Retry-After header of the failure
	hold       chan struct{} // wait for this (or the client to give up) before answering
	arrived    chan struct{} // closed when the request arrives
	acceptHold bool          // accept (record) first, then hold the answer
}

func newSink(t *testing.T, w *world, name string) *sink {
	t.Helper()
	s := &sink{t: t, path: "/hooks/" + secret("sinktoken"), key: secret("signingkey"), done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.done) }) // before Close, which waits for held requests
	w.createSecret(name, map[string]string{chatv1alpha1.NotifyURLKey: s.url(), chatv1alpha1.NotifySigningKey: s.key})
	return s
}

func (s *sink) url() string { return s.srv.URL + s.path }

// then queues answers for the next requests, in order; after them, requests are
// accepted.
func (s *sink) then(steps ...sinkStep) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plan = append(s.plan, steps...)
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost || r.URL.Path != s.path {
		s.t.Errorf("sink: unexpected request %s %s (read: %v)", r.Method, r.URL.Path, err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := notify.VerifyWebhook(s.key, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		s.t.Errorf("sink: %v: %s", err, body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m struct{ ID, Kind, Text string }
	if err := json.Unmarshal(body, &m); err != nil {
		s.t.Errorf("sink: undecodable message: %s", body)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if r.Header.Get("X-OAC-Event-ID") != m.ID {
		s.t.Errorf("sink: X-OAC-Event-ID %q, body id %q", r.Header.Get("X-OAC-Event-ID"), m.ID)
	}
	leaks.addText("notification body", string(body))

	s.mu.Lock()
	var step sinkStep
	if len(s.plan) > 0 {
		step, s.plan = s.plan[0], s.plan[1:]
	}
	a := sinkAttempt{at: time.Now(), id: m.ID, kind: m.Kind, text: m.Text}
	i := len(s.attempts)
	if step.acceptHold {
		a.accepted = true
	}
	s.attempts = append(s.attempts, a)
	s.mu.Unlock()
	if step.arrived != nil {
		close(step.arrived)
	}
	if step.hold != nil {
		select {
		case <-step.hold:
		case <-s.done:
		case <-r.Context().Done():
			return // the sender gave up (or died): nothing answered
		}
	}
	status := http.StatusOK
	if step.status != 0 {
		status = step.status
		if step.retryAfter != "" {
			w.Header().Set("Retry-After", step.retryAfter)
		}
	}
	s.mu.Lock()
	s.attempts[i].status = status
	s.attempts[i].accepted = s.attempts[i].accepted || status/100 == 2
	s.mu.Unlock()
	if status/100 == 2 {
		_, _ = io.WriteString(w, "ok")
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// got returns every request so far.
func (s *sink) got() []sinkAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkAttempt(nil), s.attempts...)
}

// accepted counts the accepted deliveries of each message ID.
func (s *sink) accepted() map[string]int {
	out := map[string]int{}
	for _, a := range s.got() {
		if a.accepted {
			out[a.id]++
		}
	}
	return out
}

func (s *sink) String() string {
	out := ""
	for _, a := range s.got() {
		out += fmt.Sprintf("\n  %s %s status=%d accepted=%v", a.at.Format("15:04:05.000"), a.id, a.status, a.accepted)
	}
	return out
}
