package chatapi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

func TestNewValidatesConfig(t *testing.T) {
	good := chatapi.Config{SDKAppID: testAppID, AdminIdentifier: testAdmin, SecretKey: testKey, Region: "singapore"}
	for _, tc := range []struct {
		name string
		edit func(*chatapi.Config)
		want string // part of the error; "" means valid
	}{
		{"region", func(c *chatapi.Config) {}, ""},
		{"endpoint", func(c *chatapi.Config) { c.Region, c.Endpoint = "", "http://127.0.0.1:8080/" }, ""},
		{"unknown region", func(c *chatapi.Config) { c.Region = "mars" }, "unknown region"},
		{"both", func(c *chatapi.Config) { c.Endpoint = "http://127.0.0.1" }, "not both"},
		{"neither", func(c *chatapi.Config) { c.Region = "" }, "set Region"},
		{"empty identifier", func(c *chatapi.Config) { c.AdminIdentifier = " " }, "admin identifier"},
		{"empty key", func(c *chatapi.Config) { c.SecretKey = "" }, "secret key"},
		{"zero app", func(c *chatapi.Config) { c.SDKAppID = 0 }, "SDKAppID"},
		{"negative app", func(c *chatapi.Config) { c.SDKAppID = -5 }, "SDKAppID"},
		{"endpoint not http", func(c *chatapi.Config) { c.Region, c.Endpoint = "", "ftp://x" }, "Endpoint"},
		{"endpoint with query", func(c *chatapi.Config) { c.Region, c.Endpoint = "", "http://x/?a=b" }, "query"},
		{"rate over 200", func(c *chatapi.Config) { c.RateLimit = 201 }, "RateLimit"},
		{"short sig lifetime", func(c *chatapi.Config) { c.UserSigLifetime = time.Second }, "UserSigLifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := chatapi.New(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
	s := fmt.Sprintf("%v %+v %#v %s", good, good, good, good)
	if strings.Contains(s, testKey) {
		t.Errorf("formatted Config shows the key: %s", s)
	}
	// A client that has a UserSig cached prints neither it nor the key.
	e := newEnv(t, nil)
	if _, err := e.c.SendText(context.Background(), "", "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	s = fmt.Sprintf("%v %+v %#v", e.c, e.c, e.c)
	sig := e.srv.Requests()[0].Query.Get("usersig")
	if strings.Contains(s, testKey) || strings.Contains(s, sig) || !strings.Contains(s, "1400000001") {
		t.Errorf("formatted Client: %s", s)
	}
}

func TestRegions(t *testing.T) {
	want := map[string]string{
		"china": "console.tim.qq.com", "singapore": "adminapisgp.im.qcloud.com",
		"seoul": "adminapikr.im.qcloud.com", "tokyo": "adminapijpn.im.qcloud.com",
		"frankfurt": "adminapiger.im.qcloud.com", "mumbai": "adminapiind.im.qcloud.com",
		"siliconvalley": "adminapiusa.im.qcloud.com", "jakarta": "adminapiidn.im.qcloud.com",
	}
	got := chatapi.RegionDomains()
	if len(got) != len(want) || len(chatapi.Regions()) != len(want) {
		t.Fatalf("RegionDomains %v", got)
	}
	for r, d := range want {
		if got[r] != d {
			t.Errorf("%s: %q, want %q", r, got[r], d)
		}
		if u, err := chatapi.BaseURL(r); err != nil || u != "https://"+d {
			t.Errorf("BaseURL(%s) = %q, %v", r, u, err)
		}
	}
	got["china"] = "evil.example"
	if d, _ := chatapi.RegionDomain("china"); d != want["china"] {
		t.Error("changing the returned map changed the table")
	}
	if _, err := chatapi.BaseURL("Singapore"); err == nil {
		t.Error("region names are lower case")
	}
}

func TestRetryThenSuccess(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "alice", SubscriberNum: 7})
	e.srv.FailNext(chatapi.CommandGetOfficialAccountInfo, 2, chatapi.CodeInternalTimeout, "server busy")
	infos, err := e.c.GetOfficialAccountInfo(context.Background(), []string{"@TOA#_a"})
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].SubscriberNum != 7 {
		t.Errorf("SubscriberNum %d", infos[0].SubscriberNum)
	}
	if n := e.srv.Calls(chatapi.CommandGetOfficialAccountInfo); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	checkBackoffs(t, e.clk.Sleeps(), 2)
	// Every attempt has its own random.
	reqs := e.srv.Requests()
	seen := map[string]bool{}
	for _, r := range reqs {
		seen[r.Query.Get("random")] = true
	}
	if len(seen) != len(reqs) {
		t.Errorf("random repeated across %d attempts", len(reqs))
	}
}

// checkBackoffs asserts n exponential backoff waits with equal jitter from
// the default base of 250ms.
func checkBackoffs(t *testing.T, sleeps []time.Duration, n int) {
	t.Helper()
	if len(sleeps) != n {
		t.Fatalf("slept %v, want %d backoffs", sleeps, n)
	}
	full := 250 * time.Millisecond
	for i, d := range sleeps {
		if d < full/2 || d > full {
			t.Errorf("backoff %d = %v, want within [%v, %v]", i+1, d, full/2, full)
		}
		full *= 2
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.FailNext(chatapi.CommandModifyOfficialAccount, 10, chatapi.CodeInternalError, "internal")
	err := e.c.SetMaxSubscriberNum(context.Background(), "@TOA#_a", 200000)
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeInternalError || ae.Service != chatapi.ServiceOfficialAccount ||
		ae.Command != chatapi.CommandModifyOfficialAccount || ae.HTTPStatus != 200 {
		t.Fatalf("got %#v", err)
	}
	if !chatapi.IsRetryable(err) {
		t.Error("internal error should stay retryable for the caller")
	}
	if n := e.srv.Calls(chatapi.CommandModifyOfficialAccount); n != chatapi.DefaultMaxAttempts {
		t.Errorf("%d calls, want %d", n, chatapi.DefaultMaxAttempts)
	}
	checkBackoffs(t, e.clk.Sleeps(), chatapi.DefaultMaxAttempts-1)
}

func TestNoRetryOnPermanentError(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.FailNext(chatapi.CommandSendMsg, 1, chatapi.CodeInvalidParameter, "bad To_Account")
	_, err := e.c.SendText(context.Background(), "", "bob", "hi")
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeInvalidParameter || ae.Info != "bad To_Account" {
		t.Fatalf("got %v", err)
	}
	if chatapi.IsRetryable(err) || ae.Retryable() {
		t.Error("a bad request is not retryable")
	}
	if n := e.srv.Calls(chatapi.CommandSendMsg); n != 1 || len(e.clk.Sleeps()) != 0 {
		t.Errorf("%d calls, sleeps %v; want 1 call, no sleep", n, e.clk.Sleeps())
	}
}

func TestWrongKeyIsANonRetryableAuthError(t *testing.T) {
	e := newEnv(t, func(c *chatapi.Config) { c.SecretKey = "not-the-key" })
	_, err := e.c.SendText(context.Background(), "", "bob", "hi")
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeUserSigVerifyFailed {
		t.Fatalf("got %v, want ErrorCode %d", err, chatapi.CodeUserSigVerifyFailed)
	}
	if !chatapi.IsAuthError(err) || chatapi.IsRetryable(err) {
		t.Errorf("auth %v retryable %v", chatapi.IsAuthError(err), chatapi.IsRetryable(err))
	}
	if n := e.srv.Calls(chatapi.CommandSendMsg); n != 1 || len(e.srv.Messages()) != 0 {
		t.Errorf("%d calls, %d messages", n, len(e.srv.Messages()))
	}
	if strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("error shows the key: %v", err)
	}
}

func TestExpiredUserSig(t *testing.T) {
	// The server's clock is two days ahead: the 24h UserSig is expired there.
	e := newEnv(t, nil)
	e.srv.SetClock(func() time.Time { return e.clk.Now().Add(48 * time.Hour) })
	_, err := e.c.SendText(context.Background(), "", "bob", "hi")
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeUserSigExpired || !chatapi.IsAuthError(err) || chatapi.IsRetryable(err) {
		t.Fatalf("got %v, want a non-retryable expired-UserSig error", err)
	}
}

// A client for another app is refused, and the fake records the request as
// malformed since its sdkappid is not the app's.
func TestWrongAppID(t *testing.T) {
	srv := chatapitest.NewServer(t, testAppID, testAdmin, testKey)
	cfg := srv.ClientConfig()
	cfg.SDKAppID = testAppID + 1
	c, err := chatapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendText(context.Background(), "", "bob", "hi")
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeUserSigAppIDMismatch || !chatapi.IsAuthError(err) {
		t.Fatalf("got %v", err)
	}
	if m := srv.Malformed(); len(m) != 1 || m[0].Command != chatapi.CommandSendMsg {
		t.Errorf("malformed %+v, want the one sendmsg", m)
	}
}

// A table of ways an answer can go wrong, through the fake server, with one
// attempt so each failure is seen as it is.
func TestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inject    func(*chatapitest.Server)
		retryable bool
		malformed bool
		transport bool
		status    int
	}{
		{"non-JSON 200", func(s *chatapitest.Server) { s.NonJSONNext(chatapi.CommandSendMsg, 1) }, true, true, false, 200},
		{"HTTP 500", func(s *chatapitest.Server) { s.FailNextHTTP(chatapi.CommandSendMsg, 1, 500) }, true, false, false, 500},
		{"HTTP 429", func(s *chatapitest.Server) { s.FailNextHTTP(chatapi.CommandSendMsg, 1, 429) }, true, false, false, 429},
		{"HTTP 403", func(s *chatapitest.Server) { s.FailNextHTTP(chatapi.CommandSendMsg, 1, 403) }, false, false, false, 403},
		{"truncated body", func(s *chatapitest.Server) { s.TruncateNext(chatapi.CommandSendMsg, 1) }, true, false, true, 0},
		{"dropped connection", func(s *chatapitest.Server) { s.DropNext(chatapi.CommandSendMsg, 1) }, true, false, true, 0},
		{"FAIL rate limited", func(s *chatapitest.Server) {
			s.FailNext(chatapi.CommandSendMsg, 1, chatapi.CodeRESTRateLimited, "too fast")
		}, true, false, false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *chatapi.Config) { c.MaxAttempts = 1 })
			tc.inject(e.srv)
			_, err := e.c.SendText(context.Background(), "", "bob", "hi")
			if err == nil {
				t.Fatal("no error")
			}
			if chatapi.IsRetryable(err) != tc.retryable {
				t.Errorf("retryable %v, want %v: %v", !tc.retryable, tc.retryable, err)
			}
			if errors.Is(err, chatapi.ErrMalformedAnswer) != tc.malformed {
				t.Errorf("malformed %v, want %v: %v", !tc.malformed, tc.malformed, err)
			}
			var te *chatapi.TransportError
			var ae *chatapi.APIError
			switch {
			case tc.transport && !errors.As(err, &te):
				t.Errorf("want a TransportError, got %T %v", err, err)
			case !tc.transport && (!errors.As(err, &ae) || ae.HTTPStatus != tc.status):
				t.Errorf("want an APIError with HTTP %d, got %v", tc.status, err)
			}
			assertNoSecrets(t, err, e.srv)
			// With retries on, a single retryable fault is got past.
			if tc.retryable {
				e2 := newEnv(t, nil)
				tc.inject(e2.srv)
				if _, err := e2.c.SendText(context.Background(), "", "bob", "hi"); err != nil {
					t.Errorf("with retries: %v", err)
				}
				if n := len(e2.srv.Messages()); n != 1 {
					t.Errorf("%d messages after retry, want 1", n)
				}
			}
		})
	}
}

// assertNoSecrets checks that neither the key nor any UserSig the fake saw
// is in err's text.
func assertNoSecrets(t *testing.T, err error, srv *chatapitest.Server) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, testKey) || strings.Contains(msg, "usersig=") {
		t.Errorf("error leaks a secret: %s", msg)
	}
	for _, r := range srv.Requests() {
		if sig := r.Query.Get("usersig"); sig != "" && strings.Contains(msg, sig) {
			t.Errorf("error contains the UserSig: %s", msg)
		}
	}
}

func TestTransportErrorsHideTheUserSig(t *testing.T) {
	t.Run("dropped", func(t *testing.T) {
		e := newEnv(t, func(c *chatapi.Config) { c.MaxAttempts = 1 })
		e.srv.DropNext(chatapi.CommandGetOfficialAccountInfo, 1)
		_, err := e.c.GetOfficialAccountInfo(context.Background(), []string{"@TOA#_a"})
		var te *chatapi.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(err.Error(), e.srv.URL()+"/v4/"+chatapi.ServiceOfficialAccount) {
			t.Errorf("error lost the (redacted) URL: %v", err)
		}
		assertNoSecrets(t, err, e.srv)
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		clk := chatapitest.NewClock(testStart)
		c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, AdminIdentifier: testAdmin, SecretKey: testKey,
			Endpoint: "http://" + addr, Now: clk.Now, Sleep: clk.Sleep})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendText(context.Background(), "", "bob", "hi")
		if err == nil || !chatapi.IsRetryable(err) {
			t.Fatalf("got %v, want a retryable transport error", err)
		}
		sig, _ := chatapi.GenUserSig(testAppID, testKey, testAdmin, chatapi.DefaultUserSigLifetime, testStart)
		if strings.Contains(err.Error(), sig) || strings.Contains(err.Error(), "usersig") || strings.Contains(err.Error(), testKey) {
			t.Errorf("error leaks a secret: %v", err)
		}
		if len(clk.Sleeps()) != chatapi.DefaultMaxAttempts-1 {
			t.Errorf("sleeps %v", clk.Sleeps())
		}
	})
	t.Run("cancelled in flight", func(t *testing.T) {
		e := newEnv(t, nil)
		arrived, release := e.srv.Hold(chatapi.CommandSendMsg)
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := e.c.SendText(ctx, "", "bob", "hi")
			done <- err
		}()
		<-arrived
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || chatapi.IsRetryable(err) {
			t.Fatalf("got %v, want Canceled and not retryable", err)
		}
		if n := e.srv.Calls(chatapi.CommandSendMsg); n != 1 {
			t.Errorf("%d calls after cancel, want 1", n)
		}
		assertNoSecrets(t, err, e.srv)
	})
}

// A redirect would carry the query, UserSig included, to another host.
func TestRedirectIsNotFollowed(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to %s", r.URL)
	}))
	defer other.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	clk := chatapitest.NewClock(testStart)
	c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, AdminIdentifier: testAdmin, SecretKey: testKey,
		Endpoint: redir.URL, HTTPClient: redir.Client(), Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendText(context.Background(), "", "bob", "hi")
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusTemporaryRedirect || chatapi.IsRetryable(err) {
		t.Fatalf("got %v", err)
	}
}

// The caller's context ending during a backoff stops the retries at once.
func TestContextEndsDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sleeps int
	e := newEnv(t, func(c *chatapi.Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			sleeps++
			cancel() // the deadline passes while we wait
			return ctx.Err()
		}
	})
	e.srv.FailNext(chatapi.CommandCreateOfficialAccount, 5, chatapi.CodeInternalTimeout, "busy")
	_, err := e.c.CreateOfficialAccount(ctx, chatapi.CreateAccountRequest{Owner: "alice", Name: "A", UserID: "@TOA#_a"})
	var ae *chatapi.APIError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.Code != chatapi.CodeInternalTimeout {
		t.Fatalf("got %v, want the last answer and Canceled", err)
	}
	if n := e.srv.Calls(chatapi.CommandCreateOfficialAccount); n != 1 || sleeps != 1 {
		t.Errorf("%d calls %d sleeps, want 1 and 1", n, sleeps)
	}
}

// All calls of one client share one bucket: 10/s with a burst of 1 spaces
// six calls of three commands 100ms apart, in virtual time.
func TestRateLimitSharedByAllCalls(t *testing.T) {
	e := newEnv(t, func(c *chatapi.Config) { c.RateLimit, c.RateBurst = 10, 1 })
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "alice"})
	ctx := context.Background()
	for range 2 {
		if _, err := e.c.GetOfficialAccountInfo(ctx, []string{"@TOA#_a"}); err != nil {
			t.Fatal(err)
		}
		if err := e.c.SetMaxSubscriberNum(ctx, "@TOA#_a", 5); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.SendText(ctx, "", "bob", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	sleeps := e.clk.Sleeps()
	if len(sleeps) != 5 {
		t.Fatalf("sleeps %v, want 5", sleeps)
	}
	for _, d := range sleeps {
		if d != 100*time.Millisecond {
			t.Errorf("sleep %v, want 100ms", d)
		}
	}
	if got := e.clk.Now().Sub(testStart); got != 500*time.Millisecond {
		t.Errorf("virtual time %v, want 500ms", got)
	}
}

// Many goroutines on one client: the race detector watches the shared
// UserSig cache and bucket; every call arrives signed and well formed.
func TestConcurrentCalls(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 10 {
		e.srv.AddAccount(chatapitest.Account{ID: fmt.Sprintf("@TOA#_%d", i), Name: "N", Owner: "o", SubscriberNum: int64(i)})
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("@TOA#_%d", i%10)
			infos, err := e.c.GetOfficialAccountInfo(context.Background(), []string{id})
			if err != nil || infos[0].Err != nil || infos[0].SubscriberNum != int64(i%10) {
				t.Errorf("%s: %v %+v", id, err, infos)
			}
			if _, err := e.c.SendText(context.Background(), "", "bob", id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(e.srv.Messages()); n != 20 {
		t.Errorf("%d messages, want 20", n)
	}
	sigs := map[string]bool{}
	for _, r := range e.srv.Requests() {
		sigs[r.Query.Get("usersig")] = true
	}
	if len(sigs) != 1 {
		t.Errorf("%d distinct UserSigs for one client in one instant, want 1 (cached)", len(sigs))
	}
}
