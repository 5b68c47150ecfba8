package fullcallback_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/hack/internal/fullcallback"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

const (
	appID = int64(1400000001)
	token = "the-console-token"
)

// outcome is what the Sender's Done was told.
type outcome struct {
	account   string
	eventTime time.Time
	status    int
	err       error
}

// Filling an account through add_subscriber makes the fake send a callback that the
// receiver's own parser and Sign check accept, about that account, at the fill's time.
func TestFillingAnAccountSendsASignedCallback(t *testing.T) {
	got := make(chan callback.Callback, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		cb, err := callback.Parse(r.URL.Query(), raw, time.Now().Add(time.Minute).UnixMilli())
		if err == nil {
			err = callback.CheckSign(cb, token, time.Now(), time.Minute)
		}
		if err != nil || r.URL.Query().Get("tenant") != "a" {
			t.Errorf("callback %s?%s: %v", r.URL.Path, r.URL.RawQuery, err)
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		got <- cb
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer receiver.Close()

	fillTime := time.UnixMilli(time.Now().UnixMilli()) // the fake's clock, to the ms
	done := make(chan outcome, 1)
	sender := &fullcallback.Sender{URL: receiver.URL + "/callback?tenant=a", SDKAppID: appID, Token: token,
		Done: func(account string, et time.Time, status int, err error) { done <- outcome{account, et, status, err} }}
	chat := chatapitest.NewServer(t, appID, "administrator", "key")
	chat.SetClock(func() time.Time { return fillTime })
	chat.OnFull(sender.Hook)
	chat.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: 1, MaxSubscriberNum: 2})
	c, err := chatapi.New(chat.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddSubscribers(context.Background(), "@TOA#_a", []string{"u1", "u2"}); err != nil {
		t.Fatal(err)
	}
	// Done is told after the receiver answered, so a valid callback is in got by then.
	if o := <-done; o.account != "@TOA#_a" || !o.eventTime.Equal(fillTime) || o.status != 200 || o.err != nil {
		t.Fatalf("Done(%+v)", o)
	}
	cb := <-got
	if cb.SDKAppID != appID || cb.Command != callback.CommandAccountFull || cb.Account != "@TOA#_a" || cb.EventTime != fillTime.UnixMilli() {
		t.Errorf("callback %+v", cb)
	}
}

func TestSendReportsARefusal(t *testing.T) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Sign does not match", http.StatusUnauthorized)
	}))
	defer receiver.Close()
	s := &fullcallback.Sender{URL: receiver.URL, SDKAppID: appID, Token: "wrong"}
	status, err := s.Send(context.Background(), "@TOA#_a", time.Now())
	if status != http.StatusUnauthorized || err == nil || err.Error() != "full callback for @TOA#_a: HTTP 401: Sign does not match" {
		t.Errorf("got %d, %v", status, err)
	}
	receiver.Close()
	if status, err := s.Send(context.Background(), "@TOA#_a", time.Now()); status != 0 || err == nil {
		t.Errorf("closed receiver: %d, %v", status, err)
	}
}
