package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// backend simulates the Chat backend's webhook client with the console's retry on:
// each callback is signed with the app's token (callback.Sign), sent with a 2 s
// timeout, and sent again ONLY when it timed out, never on a FAIL answer nor on a
// reset connection. A refused connection (no process listens: a replica that exited)
// is what the load balancer in front of the replicas takes care of, by trying the
// next one; pick plays that part. How many times Tencent re-sends is not
// documented; maxAttempts (the first included) bounds it here.
type backend struct {
	appID       int64
	token       string
	maxAttempts int
	client      *http.Client

	mu      sync.Mutex
	results []delivery
}

// Outcomes of a delivery.
const (
	outcomeOK       = "ok"       // HTTP 200, ErrorCode 0
	outcomeFail     = "fail"     // an answer, but not OK: not sent again
	outcomeError    = "error"    // no answer and no timeout (refused, reset): not sent again
	outcomeTimedOut = "timedout" // every attempt timed out
)

// attempt is one HTTP request of a delivery.
type attempt struct {
	url      string
	status   int
	body     string
	err      error
	timedOut bool
	took     time.Duration
}

// delivery is one callback as the backend saw it through.
type delivery struct {
	account   string
	eventTime int64
	attempts  []attempt
	outcome   string
}

func (d delivery) String() string {
	s := fmt.Sprintf("%s@%d: %s after %d attempt(s)", d.account, d.eventTime, d.outcome, len(d.attempts))
	for i, a := range d.attempts {
		s += fmt.Sprintf("\n  #%d %s (%v): HTTP %d %s", i+1, a.url, a.took.Round(time.Millisecond), a.status, a.body)
		if a.err != nil {
			s += fmt.Sprintf(" err=%v", a.err)
		}
	}
	return s
}

func newBackend(appID int64, token string) *backend {
	return &backend{appID: appID, token: token, maxAttempts: 10, client: &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DialContext: (&net.Dialer{Timeout: time.Second}).DialContext},
	}}
}

// full delivers an "account full" event; pick names the receiver of each attempt
// (0 is the first), as a load balancer would.
func (b *backend) full(ctx context.Context, pick func(attempt int) string, account string, eventTime int64) delivery {
	body := callback.Body(callback.CommandAccountFull, account, eventTime)
	d := delivery{account: account, eventTime: eventTime}
	for i := 0; i < b.maxAttempts; i++ {
		a := b.post(ctx, pick(i), b.token, body)
		d.attempts = append(d.attempts, a)
		switch {
		case a.timedOut && ctx.Err() == nil:
			continue // the one case the backend sends again
		case errors.Is(a.err, syscall.ECONNREFUSED) && ctx.Err() == nil:
			// Nothing was sent: the load balancer tries the next replica, after a
			// moment if that one is restarting too (a pace, not a synchronisation).
			select {
			case <-time.After(250 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		case a.err != nil && a.timedOut:
			d.outcome = outcomeTimedOut
		case a.err != nil:
			d.outcome = outcomeError
		case a.status == http.StatusOK && answerCode(a.body) == 0:
			d.outcome = outcomeOK
		default:
			d.outcome = outcomeFail
		}
		break
	}
	if d.outcome == "" {
		d.outcome = outcomeTimedOut
	}
	b.mu.Lock()
	b.results = append(b.results, d)
	b.mu.Unlock()
	return d
}

// raw sends one callback once with the given token (a wrong one for a bad
// signature) and body, and returns the attempt.
func (b *backend) raw(ctx context.Context, target, token string, body []byte) attempt {
	return b.post(ctx, target, token, body)
}

func (b *backend) post(ctx context.Context, target, token string, body []byte) attempt {
	u, _ := url.Parse(target)
	q := u.Query()
	callback.SetQuery(q, b.appID, callback.CommandAccountFull, token, time.Now())
	leaks.addSign(q.Get("Sign"))
	u.RawQuery = q.Encode()
	a := attempt{url: target}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := b.client.Do(req)
	if err == nil {
		var raw []byte
		raw, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		a.status, a.body = resp.StatusCode, string(bytes.TrimSpace(raw))
		leaks.addText("callback answer", a.body)
	}
	a.took = time.Since(start)
	if err != nil {
		a.err = err
		var ne net.Error
		a.timedOut = errors.As(err, &ne) && ne.Timeout()
	}
	return a
}

// answerCode is the ErrorCode of a callback answer; -1 when it has none.
func answerCode(body string) int {
	var a struct{ ErrorCode *int }
	if json.Unmarshal([]byte(body), &a) != nil || a.ErrorCode == nil {
		return -1
	}
	return *a.ErrorCode
}

// to picks the same receiver for every attempt.
func to(m *manager) func(int) string { return func(int) string { return m.url() } }

// alternate starts with the first receiver and sends every re-send to the next, as a
// Service spreads new connections.
func alternate(ms ...*manager) func(int) string {
	return func(i int) string { return ms[i%len(ms)].url() }
}
