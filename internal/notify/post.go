package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/backoff"
)

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 64 << 10

// deliverer holds what every target shares: the HTTP client, the clock and
// the retry policy. Its String hides the URL and key, and, being embedded,
// stands for the targets' String too.
type deliverer struct {
	typ            string
	url            string
	key            string
	secrets        []string
	hc             *http.Client
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error
	maxAttempts    int
	baseBackoff    time.Duration
	maxBackoff     time.Duration
	attemptTimeout time.Duration
}

// String describes the target without its secrets.
func (d *deliverer) String() string {
	return fmt.Sprintf("notify.%s{URL:%s}", d.typ, redactURL(d.url))
}

// GoString hides the secrets from %#v as well.
func (d *deliverer) GoString() string { return d.String() }

// request is one HTTP attempt's URL, extra headers and body.
type request struct {
	url    string
	header http.Header
	body   []byte
}

// checkFunc classifies an answer: nil for success, else an *Error whose Type,
// Status and secrets the caller fills in. body is at most maxAnswerBytes.
type checkFunc func(status int, body []byte) *Error

// postJSON POSTs what build makes (afresh for each attempt, so signatures
// and timestamps are current) until check accepts the answer, the failure
// is permanent, the attempts run out or ctx ends.
func (d *deliverer) postJSON(ctx context.Context, build func(now time.Time) (request, error), check checkFunc) error {
	return d.retry(ctx, func(ctx context.Context) *Error {
		r, err := build(d.now())
		if err != nil {
			return &Error{Permanent: true, Err: redactError(fmt.Errorf("building request: %w", err), d.secrets)}
		}
		return d.postOnce(ctx, r, check)
	})
}

// postOnce makes one attempt under its own timeout.
func (d *deliverer) postOnce(ctx context.Context, r request, check checkFunc) *Error {
	ctx, cancel := context.WithTimeout(ctx, d.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(r.body))
	if err != nil {
		return &Error{Permanent: true, Err: redactError(err, d.secrets)}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return &Error{Err: redactError(err, d.secrets)}
	}
	defer resp.Body.Close()
	// A read error leaves a short body, which check judges: a JSON answer
	// cut short is retried, a 2xx of Slack or a webhook needs no body.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	e := check(resp.StatusCode, body)
	if e == nil {
		return nil
	}
	e.Status = resp.StatusCode
	e.Info = info(e.Info, d.secrets)
	if !e.Permanent {
		e.retryAfter = retryAfter(resp.Header.Get("Retry-After"), d.now())
	}
	return e
}

// retry runs attempt until it succeeds, fails permanently, the attempts run
// out or ctx ends. The wait after a failure is the answer's Retry-After, or
// else exponential backoff with equal jitter; both are capped at maxBackoff.
func (d *deliverer) retry(ctx context.Context, attempt func(context.Context) *Error) error {
	for n := 1; ; n++ {
		e := attempt(ctx)
		if e == nil {
			return nil
		}
		e.Type, e.Attempts = d.typ, n
		if ctx.Err() != nil {
			// The caller gave up; the target may be fine.
			e.Permanent = false
			if !errors.Is(e, ctx.Err()) {
				return fmt.Errorf("%w (abandoned: %w)", e, ctx.Err())
			}
			return e
		}
		if e.Permanent || n >= d.maxAttempts {
			return e
		}
		wait := d.backoff(n)
		if e.retryAfter > 0 {
			wait = min(e.retryAfter, d.maxBackoff)
		}
		if err := d.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", e, err)
		}
	}
}

// backoff is the wait after the given failed attempt: base*2^(attempt-1),
// capped, with equal jitter (half fixed, half random).
func (d *deliverer) backoff(attempt int) time.Duration {
	return backoff.Delay(d.baseBackoff, d.maxBackoff, attempt, rand.Uint32())
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent, unreadable or in the past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// statusOK reports a 2xx status.
func statusOK(status int) bool { return status >= 200 && status <= 299 }

// statusError is the Error for a non-2xx answer: 429 and 5xx may pass,
// anything else (4xx, a redirect that was not followed) will not.
func statusError(status int, body []byte) *Error {
	return &Error{
		Permanent: status != http.StatusTooManyRequests && status < 500,
		Info:      string(body),
	}
}

// codeCheck is the check of robots that answer a JSON object with a result
// code (WeCom and DingTalk: errcode/errmsg). read returns the code, whether
// the answer had one, and its message. A 2xx answer that is not JSON (a cut
// transfer, a gateway page) is retried; one without a code is permanent;
// code 0 is success; a code in retryable is retried, any other is permanent.
func codeCheck(read func(body []byte) (code int, ok bool, msg string, err error), retryable ...int) checkFunc {
	return func(status int, body []byte) *Error {
		code, ok, msg, err := read(body)
		if !statusOK(status) {
			e := statusError(status, body)
			if err == nil && ok {
				e.Code, e.Info = code, msg
			}
			return e
		}
		switch {
		case err != nil:
			return &Error{Info: "answer is not JSON: " + string(body)}
		case !ok:
			return &Error{Permanent: true, Info: "answer has no result code: " + string(body)}
		case code == 0:
			return nil
		}
		for _, r := range retryable {
			if code == r {
				return &Error{Code: code, Info: msg}
			}
		}
		return &Error{Permanent: true, Code: code, Info: msg}
	}
}

// readErrcode reads the {"errcode":0,"errmsg":"ok"} answer of WeCom and
// DingTalk.
func readErrcode(body []byte) (int, bool, string, error) {
	var a struct {
		Errcode *int   `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, false, "", err
	}
	if a.Errcode == nil {
		return 0, false, a.Errmsg, nil
	}
	return *a.Errcode, true, a.Errmsg, nil
}

// marshal encodes v as JSON without escaping <, > and & (the targets show
// the text to people; JSON does not need the escapes).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// prepare checks m and fills a zero Time with the clock.
func (d *deliverer) prepare(m Message) (Message, error) {
	if m.ID == "" || m.Kind == "" {
		return m, d.permanent(errors.New("message needs an ID and a Kind"))
	}
	if m.Time.IsZero() {
		m.Time = d.now()
	}
	return m, nil
}

// permanent is the Error for a failure before any attempt.
func (d *deliverer) permanent(err error) *Error {
	return &Error{Type: d.typ, Permanent: true, Err: redactError(err, d.secrets)}
}
