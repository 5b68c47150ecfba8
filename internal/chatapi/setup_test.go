package chatapi_test

import (
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

const (
	testAppID = int64(1400000001)
	testAdmin = "administrator"
	testKey   = "0123456789abcdef-secret"
)

var testStart = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// env is a fake server and a client sharing one virtual clock.
type env struct {
	srv *chatapitest.Server
	clk *chatapitest.Clock
	c   *chatapi.Client
}

// newEnv starts a fake server and a client for it; edit adjusts the config.
func newEnv(t *testing.T, edit func(*chatapi.Config)) *env {
	t.Helper()
	srv := chatapitest.NewServer(t, testAppID, testAdmin, testKey)
	clk := chatapitest.NewClock(testStart)
	srv.SetClock(clk.Now)
	cfg := srv.ClientConfig()
	cfg.Now, cfg.Sleep, cfg.Rand = clk.Now, clk.Sleep, counterRand()
	if edit != nil {
		edit(&cfg)
	}
	c, err := chatapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m := srv.Malformed(); len(m) > 0 {
			t.Errorf("malformed requests reached the fake: %+v", m)
		}
	})
	return &env{srv: srv, clk: clk, c: c}
}

// counterRand is a concurrency-safe, deterministic source whose values are
// distinct for a long while (Knuth's multiplicative step is odd).
func counterRand() func() uint32 {
	var n atomic.Uint32
	return func() uint32 { return n.Add(2654435761) }
}

// bodyOf decodes a recorded request body into a generic map.
func bodyOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("request body %s: %v", b, err)
	}
	return m
}

// checkQuery asserts the common query parameters of a recorded request.
func checkQuery(t *testing.T, r chatapitest.Request, now time.Time) {
	t.Helper()
	q := r.Query
	if r.Method != "POST" || q.Get("sdkappid") != strconv.FormatInt(testAppID, 10) ||
		q.Get("identifier") != testAdmin || q.Get("contenttype") != "json" {
		t.Errorf("request %s %s?%v", r.Method, r.Command, q)
	}
	if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
		t.Errorf("random %q: %v", q.Get("random"), err)
	}
	if err := chatapi.VerifyUserSig(testAppID, testKey, testAdmin, q.Get("usersig"), now); err != nil {
		t.Errorf("usersig: %v", err)
	}
}
