package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "…"},
		{"abcdef", 5, "ab…"},
		{"满满满", 9, "满满满"},
		{"满满满", 8, "满…"},
		{"满满满", 7, "满…"},
		{"满满满", 5, "…"},
		{"满满满", 2, ""},
		{"a满", 3, "…"},
		{"ab满", 4, "a…"},
		{"abcd满", 6, "abc…"},
	} {
		got := truncateUTF8(tc.s, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"x", 0}, {" 7 ", 7 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999", 24 * time.Hour},
	} {
		if got := retryAfter(tc.v, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestReadsAtMost64KiB(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20))) // the client stops reading early
	}))
	defer srv.Close()
	n, err := New(Config{Type: TypeWebhook, URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	d := n.(*webhook).deliverer
	got := -1
	e := d.postOnce(context.Background(), request{url: srv.URL}, func(status int, body []byte) *Error {
		got = len(body)
		return statusError(status, body)
	})
	if got != maxAnswerBytes {
		t.Errorf("read %d bytes, want %d", got, maxAnswerBytes)
	}
	if e == nil || len(e.Info) > maxInfoBytes || e.Status != 500 || e.Permanent {
		t.Errorf("error %+v", e)
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k": "https://qyapi.weixin.qq.com/[redacted]?[redacted]",
		"https://example.com":            "https://example.com",
		"https://example.com/?a=b":       "https://example.com?[redacted]",
		"http://127.0.0.1:8080/hook/abc": "http://127.0.0.1:8080/[redacted]",
		"/relative":                      "[unparsable URL redacted]",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
