package webhookserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks drive the real HTTP server on loopback against envtest; see
// docs/performance.md for the method and the figures.

// BenchmarkDuplicateCallback is a re-delivered event already in status: parse, verify
// the Sign, find the resource in the cache index, answer OK, write nothing.
func BenchmarkDuplicateCallback(b *testing.B) {
	h := startServer(b, Options{})
	appID := newAppID()
	h.pool(env.Namespace(b), appID, "bench-token", "@TOA#_bench_dup")
	h.full(appID, "bench-token", "@TOA#_bench_dup", sampleEventTime)
	h.waitCachedEvent(appID, "@TOA#_bench_dup", sampleEventTime)
	body := fullBody("@TOA#_bench_dup", sampleEventTime)
	writes := h.counter("writes", "success")

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			code, _ := h.post(http.MethodPost, query(appID, CommandAccountFull, "bench-token", time.Now()), body)
			if code != http.StatusOK {
				b.Fatalf("HTTP %d", code)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				code, _ := h.post(http.MethodPost, query(appID, CommandAccountFull, "bench-token", time.Now()), body)
				if code != http.StatusOK {
					b.Errorf("HTTP %d", code)
					return
				}
			}
		})
	})
	if n := h.counter("writes", "success"); n != writes {
		b.Fatalf("duplicates wrote status %v times", n-writes)
	}
}

// BenchmarkNewEvent is a new event for one account each time: the answer waits for
// the status write. In parallel, concurrent events share writes (group commit).
func BenchmarkNewEvent(b *testing.B) {
	h := startServer(b, Options{})
	appID := newAppID()
	h.pool(env.Namespace(b), appID, "bench-token", "@TOA#_bench_new")
	var eventTime atomic.Int64
	eventTime.Store(sampleEventTime)

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.full(appID, "bench-token", "@TOA#_bench_new", eventTime.Add(1))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		before := h.counter("writes", "success")
		b.SetParallelism(16) // 16 clients per CPU, as a busy Chat backend would be
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				code, _ := h.post(http.MethodPost, query(appID, CommandAccountFull, "bench-token", time.Now()), fullBody("@TOA#_bench_new", eventTime.Add(1)))
				if code != http.StatusOK {
					b.Errorf("HTTP %d", code)
					return
				}
			}
		})
		b.ReportMetric((h.counter("writes", "success")-before)/float64(b.N), "writes/op")
	})
}

// BenchmarkRelay is a callback the operator does not consume (a "Before" callback),
// relayed to a backend that answers OK: authenticate, pick the target, relay, copy the
// answer back. With -cpuprofile it shows where a relayed callback's CPU goes
// (docs/performance.md, "Relaying to the app's backend").
func BenchmarkRelay(b *testing.B) {
	h := startServer(b, Options{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	b.Cleanup(backend.Close)
	appID := newAppID()
	h.forwardPool(env.Namespace(b), "app", appID, "bench-token", backend.URL+"/im/callback", 0, nil, "@TOA#_bench_relay")
	body := beforeSendBody()
	relayed := h.counter("relays", "other", relayAnswered)
	b.ReportAllocs()
	for b.Loop() {
		resp, got := h.raw(query(appID, beforeSend, "bench-token", time.Now()), "application/json; charset=UTF-8", body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"OK"`) {
			b.Fatalf("HTTP %d %q", resp.StatusCode, got)
		}
	}
	if n := h.counter("relays", "other", relayAnswered) - relayed; n < float64(b.N) {
		b.Fatalf("relayed %v of %d", n, b.N)
	}
}
