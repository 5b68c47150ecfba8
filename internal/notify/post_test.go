package notify_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

func TestRetriesServerErrors(t *testing.T) {
	tg := newTarget(t, reply{status: 500}, reply{status: 500}, reply{status: 500}, reply{body: "ok"})
	clk := newClock()
	if err := mustNew(t, config(notify.TypeSlack, tg.srv.URL+"/s", clk)).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	if got := len(tg.requests()); got != 4 {
		t.Errorf("%d requests, want 4", got)
	}
	// Exponential from 500ms with equal jitter: [base/2, base] each time.
	sleeps := clk.Sleeps()
	if len(sleeps) != 3 {
		t.Fatalf("sleeps %v, want 3", sleeps)
	}
	for i, base := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		if sleeps[i] < base/2 || sleeps[i] > base {
			t.Errorf("sleep %d is %v, want in [%v, %v]", i+1, sleeps[i], base/2, base)
		}
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	tg := newTarget(t, reply{status: 503, body: "unavailable"})
	clk := newClock()
	cfg := config(notify.TypeWebhook, tg.srv.URL, clk)
	cfg.MaxAttempts = 3
	err := mustNew(t, cfg).Send(context.Background(), testMsg)
	e := asError(t, err)
	if len(tg.requests()) != 3 || e.Attempts != 3 || e.Permanent || notify.IsPermanent(err) || e.Status != 503 {
		t.Errorf("%d requests; error %+v", len(tg.requests()), e)
	}
	if !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("error text %q", err)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	tg := newTarget(t, reply{status: 500})
	clk := newClock()
	cfg := config(notify.TypeWebhook, tg.srv.URL, clk)
	cfg.MaxAttempts, cfg.BaseBackoff, cfg.MaxBackoff = 6, time.Second, 3*time.Second
	_ = mustNew(t, cfg).Send(context.Background(), testMsg)
	sleeps := clk.Sleeps()
	if len(sleeps) != 5 {
		t.Fatalf("sleeps %v", sleeps)
	}
	for i, d := range sleeps[2:] {
		if d < 1500*time.Millisecond || d > 3*time.Second {
			t.Errorf("sleep %d is %v, want in [1.5s, 3s]", i+3, d)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	httpDate := testStart.Add(12 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"HTTP date", httpDate, 12 * time.Second},
		{"capped at MaxBackoff", "120", 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, reply{status: 429, header: map[string]string{"Retry-After": tc.value}}, reply{body: "ok"})
			clk := newClock()
			if err := mustNew(t, config(notify.TypeSlack, tg.srv.URL+"/s", clk)).Send(context.Background(), testMsg); err != nil {
				t.Fatal(err)
			}
			if s := clk.Sleeps(); len(s) != 1 || s[0] != tc.want {
				t.Errorf("sleeps %v, want [%v]", s, tc.want)
			}
			if len(tg.requests()) != 2 {
				t.Errorf("%d requests, want 2", len(tg.requests()))
			}
		})
	}
}

func TestNotFoundIsPermanent(t *testing.T) {
	tg := newTarget(t, reply{status: 404, body: "no_service"})
	clk := newClock()
	err := mustNew(t, config(notify.TypeSlack, tg.srv.URL+"/s", clk)).Send(context.Background(), testMsg)
	if !notify.IsPermanent(err) || len(tg.requests()) != 1 || len(clk.Sleeps()) != 0 {
		t.Errorf("error %v, %d requests, sleeps %v", err, len(tg.requests()), clk.Sleeps())
	}
	if e := asError(t, err); e.Status != 404 || e.Info != "no_service" {
		t.Errorf("error %+v", e)
	}
}

func TestCancelStopsRetries(t *testing.T) {
	tg := newTarget(t, reply{status: 500})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config(notify.TypeSlack, tg.srv.URL+"/s", newClock())
	var sleeps atomic.Int32
	cfg.Sleep = func(ctx context.Context, _ time.Duration) error {
		sleeps.Add(1)
		cancel() // the caller gives up while we wait
		return ctx.Err()
	}
	err := mustNew(t, cfg).Send(ctx, testMsg)
	if !errors.Is(err, context.Canceled) || notify.IsPermanent(err) {
		t.Errorf("error %v", err)
	}
	if len(tg.requests()) != 1 || sleeps.Load() != 1 {
		t.Errorf("%d requests, %d sleeps; want 1, 1", len(tg.requests()), sleeps.Load())
	}

	// Already cancelled: no retry either, and not permanent.
	tg2 := newTarget(t, reply{body: "ok"})
	err = mustNew(t, config(notify.TypeSlack, tg2.srv.URL+"/s", newClock())).Send(ctx, testMsg)
	if !errors.Is(err, context.Canceled) || notify.IsPermanent(err) || len(tg2.requests()) > 1 {
		t.Errorf("error %v, %d requests", err, len(tg2.requests()))
	}
}

func TestAttemptTimeout(t *testing.T) {
	var n atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leaving
		if n.Add(1) == 1 {
			// Hang until the client gives up on the attempt.
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	defer close(release)
	clk := newClock()
	cfg := config(notify.TypeSlack, srv.URL+"/s", clk)
	cfg.AttemptTimeout = 100 * time.Millisecond
	if err := mustNew(t, cfg).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || len(clk.Sleeps()) != 1 {
		t.Errorf("%d requests, sleeps %v; want 2, 1", n.Load(), clk.Sleeps())
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	tg := newTarget(t)
	url := tg.srv.URL + "/s"
	tg.srv.Close() // connection refused from now on
	clk := newClock()
	err := mustNew(t, config(notify.TypeSlack, url, clk)).Send(context.Background(), testMsg)
	e := asError(t, err)
	if e.Permanent || e.Attempts != 4 || e.Status != 0 || e.Err == nil || len(clk.Sleeps()) != 3 {
		t.Errorf("error %+v, sleeps %v", e, clk.Sleeps())
	}
}
