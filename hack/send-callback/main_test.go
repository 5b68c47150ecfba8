package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// receiver checks each callback as the operator's receiver does (the same parser and
// Sign check) and answers as it would.
func receiver(t *testing.T, token string, seen *atomic.Int64, last *atomic.Value) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		now := time.Now()
		cb, err := callback.Parse(r.URL.Query(), body, now.Add(time.Minute).UnixMilli())
		if err == nil && token != "" {
			err = callback.CheckSign(cb, token, now, time.Minute)
		}
		if err != nil {
			t.Errorf("the receiver refuses what send-callback sent (%s?%s %s): %v", r.URL.Path, r.URL.RawQuery, body, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		seen.Add(1)
		last.Store(cb)
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSendsWhatTheReceiverAccepts(t *testing.T) {
	var seen atomic.Int64
	var last atomic.Value
	srv := receiver(t, "tok", &seen, &last)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", srv.URL + "/callback", "--token", "tok", "--app", "1400000001",
		"--account", "@TOA#_a", "--event-time", "1670574414123"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := out.String(), "200 {\"ActionStatus\":\"OK\",\"ErrorInfo\":\"\",\"ErrorCode\":0}\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	cb := last.Load().(callback.Callback)
	want := callback.Callback{SDKAppID: 1400000001, Command: callback.CommandAccountFull, Sign: cb.Sign, RequestTime: cb.RequestTime,
		Account: "@TOA#_a", EventTime: 1670574414123}
	if cb != want || cb.Sign == "" {
		t.Errorf("received %+v, want %+v with a Sign", cb, want)
	}
}

func TestDefaultEventTimeIsNow(t *testing.T) {
	t.Setenv("OAC_CALLBACK_TOKEN", "")
	var seen atomic.Int64
	var last atomic.Value
	srv := receiver(t, "", &seen, &last)
	before := time.Now().UnixMilli()
	if err := run(context.Background(), []string{"--url", srv.URL, "--app", "1", "--account", "@TOA#_a"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("run: %v", err)
	}
	cb := last.Load().(callback.Callback)
	if cb.EventTime < before || cb.EventTime > time.Now().UnixMilli() || cb.Sign != "" {
		t.Errorf("received EventTime %d (want the time of sending, after %d) and Sign %q (want none)", cb.EventTime, before, cb.Sign)
	}
}

func TestBurst(t *testing.T) {
	var seen atomic.Int64
	var last atomic.Value
	srv := receiver(t, "tok", &seen, &last)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", srv.URL, "--token", "tok", "--app", "1", "--account", "@TOA#_a",
		"--count", "40", "--concurrency", "8"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if seen.Load() != 40 {
		t.Errorf("the receiver got %d callbacks, want 40", seen.Load())
	}
	for _, want := range []string{"sent 40 in ", "      40  200 ErrorCode=0\n", "latency p50 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary %q lacks %q", out.String(), want)
		}
	}
}

func TestRefusedAnswerFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"ActionStatus":"FAIL","ErrorInfo":"Sign does not match","ErrorCode":1}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", srv.URL, "--app", "1", "--account", "@TOA#_a"}, &out, io.Discard)
	if err == nil || !strings.HasPrefix(out.String(), "401 ") {
		t.Errorf("run = %v, printed %q; want an error and the 401 answer", err, out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--account", "a"}, "--app is required"},
		{[]string{"--app", "1"}, "--account is required"},
		{[]string{"--app", "1", "--account", "a", "--count", "0"}, "at least 1"},
		{[]string{"--app", "1", "--account", "a", "--concurrency", "0"}, "at least 1"},
		{[]string{"--app", "1", "--account", "a", "--timeout", "0s"}, "--timeout"},
		{[]string{"--app", "1", "--account", "a", "extra"}, "unexpected arguments"},
		{[]string{"--app", "x"}, "invalid value"},
	} {
		err := run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
