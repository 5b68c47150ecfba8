package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// retryableChatErr is what chatapi returns for a dropped connection.
var retryableChatErr = &chatapi.TransportError{Service: "openim", Command: "sendmsg", Err: errors.New("connection reset by peer")}

var testChatText = testTitle + "\n" + strings.Join(testLines, "\n")

func chatConfig(f *fakeChat, clk *chatapitest.Clock, to ...string) notify.Config {
	return notify.Config{Type: "chat", Chat: f, ToAccounts: to, From: "oa_bot", Now: clk.Now, Sleep: clk.Sleep}
}

func TestChatSend(t *testing.T) {
	f := &fakeChat{}
	if err := mustNew(t, chatConfig(f, newClock(), "alice", "bob")).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	want := []chatCall{{"oa_bot", "alice", testChatText}, {"oa_bot", "bob", testChatText}}
	if len(f.calls) != 2 || f.calls[0] != want[0] || f.calls[1] != want[1] {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}

func TestChatRetriesOnlyUnsent(t *testing.T) {
	f := &fakeChat{fail: map[string][]error{"bob": {retryableChatErr, retryableChatErr}}}
	clk := newClock()
	if err := mustNew(t, chatConfig(f, clk, "alice", "bob", "carol")).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	if f.callsTo("alice") != 1 || f.callsTo("carol") != 1 || f.callsTo("bob") != 3 || len(clk.Sleeps()) != 2 {
		t.Errorf("calls %q, sleeps %v", f.calls, clk.Sleeps())
	}
}

func TestChatPermanentFailure(t *testing.T) {
	refused := &chatapi.APIError{Service: "openim", Command: "sendmsg", Code: 70402, Info: "invalid parameter"}
	f := &fakeChat{fail: map[string][]error{"bob": {refused}}}
	clk := newClock()
	err := mustNew(t, chatConfig(f, clk, "alice", "bob", "carol")).Send(context.Background(), testMsg)
	e := asError(t, err)
	if !e.Permanent || e.Code != 70402 || e.Type != "chat" || !errors.Is(err, refused) || !strings.Contains(err.Error(), `"bob"`) {
		t.Errorf("error %+v: %v", e, err)
	}
	if f.callsTo("alice") != 1 || f.callsTo("bob") != 1 || f.callsTo("carol") != 1 || len(clk.Sleeps()) != 0 {
		t.Errorf("calls %q, sleeps %v", f.calls, clk.Sleeps())
	}
}

func TestChatMixedFailures(t *testing.T) {
	always := []error{retryableChatErr, retryableChatErr, retryableChatErr, retryableChatErr, retryableChatErr}
	f := &fakeChat{fail: map[string][]error{"bob": always, "carol": {errors.New("no such account")}}}
	err := mustNew(t, chatConfig(f, newClock(), "alice", "bob", "carol")).Send(context.Background(), testMsg)
	e := asError(t, err)
	if e.Permanent || e.Attempts != 4 || !strings.Contains(err.Error(), "carol") || !strings.Contains(err.Error(), "bob") {
		t.Errorf("error %+v: %v", e, err)
	}
	if f.callsTo("alice") != 1 || f.callsTo("bob") != 4 || f.callsTo("carol") != 1 {
		t.Errorf("calls %q", f.calls)
	}
}

func TestChatCancelIsNotPermanent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeChat{fail: map[string][]error{"alice": {context.Canceled}}}
	err := mustNew(t, chatConfig(f, newClock(), "alice")).Send(ctx, testMsg)
	if !errors.Is(err, context.Canceled) || notify.IsPermanent(err) || len(f.calls) != 1 {
		t.Errorf("error %v, calls %q", err, f.calls)
	}
}

// TestChatWithChatAPIClient runs a real *chatapi.Client against the fake
// Chat server: one failure it does not retry itself is retried here, for
// the recipient that did not get the message only.
func TestChatWithChatAPIClient(t *testing.T) {
	srv := chatapitest.NewServer(t, 1400000001, "administrator", "0123456789abcdef-secret")
	ccfg := srv.ClientConfig()
	ccfg.MaxAttempts = 1
	c, err := chatapi.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(chatapi.CommandSendMsg, 1, chatapi.CodeMsgInternal, "internal error, please retry")
	clk := newClock()
	cfg := notify.Config{Type: "chat", Chat: c, ToAccounts: []string{"alice", "bob"}, Now: clk.Now, Sleep: clk.Sleep}
	if err := mustNew(t, cfg).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 || msgs[0].To != "bob" || msgs[1].To != "alice" || msgs[0].From != "" || msgs[0].Text != testChatText {
		t.Errorf("messages %+v", msgs)
	}
	if len(clk.Sleeps()) != 1 {
		t.Errorf("sleeps %v", clk.Sleeps())
	}
}
