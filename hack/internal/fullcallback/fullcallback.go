// Package fullcallback sends OfficialAccount.CallbackAfterOfficialAccountFull as the
// Chat backend does, for the programs that play Chat in front of the operator (make
// run's local mode, make loadtest): chatapitest's OnFull hook takes Sender.Hook, so
// that filling an account through add_subscriber calls the operator, as in production.
package fullcallback

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// chatTimeout is how long the Chat backend waits for a webhook's answer.
const chatTimeout = 2 * time.Second

// Sender posts full callbacks to one receiver for one app.
type Sender struct {
	URL      string // the receiver, e.g. http://127.0.0.1:9292/callback
	SDKAppID int64
	Token    string // the console's webhook Token; empty sends unsigned callbacks
	// Client sends the callbacks; nil means one with the Chat backend's 2 s timeout.
	Client *http.Client
	// Done, when set, is told the outcome of each callback Hook sent: the HTTP
	// status (0 when there was none) and an error unless the receiver answered
	// 200. Chat does not retry an "after" callback by default, and neither does
	// Hook.
	Done func(account string, eventTime time.Time, status int, err error)
}

// Hook sends the callback of account filling up at eventTime, once. Its signature is
// that of chatapitest.Server.OnFull.
func (s *Sender) Hook(account string, eventTime time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), chatTimeout)
	defer cancel()
	status, err := s.Send(ctx, account, eventTime)
	if s.Done != nil {
		s.Done(account, eventTime, status, err)
	}
}

// Send posts the callback: the query with SdkAppid, CallbackCommand, contenttype,
// ClientIP, OptPlatform and, with a Token, RequestTime (now) and Sign; the body with
// Official_Account and EventTime in Unix milliseconds. It returns the answer's HTTP
// status, and an error unless it is 200.
func (s *Sender) Send(ctx context.Context, account string, eventTime time.Time) (int, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return 0, fmt.Errorf("full callback for %s: receiver URL: %w", account, err)
	}
	q := u.Query()
	callback.SetQuery(q, s.SDKAppID, callback.CommandAccountFull, s.Token, time.Now())
	u.RawQuery = q.Encode()
	body := callback.Body(callback.CommandAccountFull, account, eventTime.UnixMilli())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("full callback for %s: %w", account, err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := s.Client
	if hc == nil {
		hc = &http.Client{Timeout: chatTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("full callback for %s: %w", account, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("full callback for %s: HTTP %d: %s", account, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return resp.StatusCode, nil
}
