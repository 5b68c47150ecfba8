package notify_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

func TestTypes(t *testing.T) {
	want := []string{"chat", "dingtalk", "feishu", "slack", "webhook", "wecom"}
	if got := notify.Types(); !slices.Equal(got, want) {
		t.Errorf("Types() = %v, want %v", got, want)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	const u = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
	chatCfg := notify.Config{Type: "chat", Chat: &fakeChat{}, ToAccounts: []string{"alice"}}
	for _, tc := range []struct {
		name string
		cfg  notify.Config
		want string // part of the error; "" means valid
	}{
		{"slack", notify.Config{Type: "slack", URL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{"wecom", notify.Config{Type: "wecom", URL: u}, ""},
		{"dingtalk signed", notify.Config{Type: "dingtalk", URL: "https://oapi.dingtalk.com/robot/send?access_token=t", SigningKey: "SECx"}, ""},
		{"feishu signed", notify.Config{Type: "feishu", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/x", SigningKey: "s"}, ""},
		{"webhook signed", notify.Config{Type: "webhook", URL: "https://example.com/hook", SigningKey: "s"}, ""},
		{"http 127.0.0.1", notify.Config{Type: "webhook", URL: "http://127.0.0.1:8080/hook"}, ""},
		{"http localhost", notify.Config{Type: "webhook", URL: "http://localhost/hook"}, ""},
		{"http ::1", notify.Config{Type: "webhook", URL: "http://[::1]:9000/hook"}, ""},
		{"chat", chatCfg, ""},
		{"chat from", notify.Config{Type: "chat", Chat: &fakeChat{}, ToAccounts: []string{"a", "b"}, From: "oa_admin"}, ""},
		{"tuned", notify.Config{Type: "slack", URL: "https://h/s", MaxAttempts: 1, BaseBackoff: time.Second, MaxBackoff: time.Minute, AttemptTimeout: time.Second}, ""},

		{"empty type", notify.Config{URL: u}, "unknown type"},
		{"unknown type", notify.Config{Type: "teams", URL: u}, "unknown type"},
		{"upper-case type", notify.Config{Type: "Slack", URL: u}, "unknown type"},
		{"no URL", notify.Config{Type: "slack"}, "empty URL"},
		{"http elsewhere", notify.Config{Type: "slack", URL: "http://hooks.slack.com/services/x"}, "must be https"},
		{"http 127.0.0.2", notify.Config{Type: "webhook", URL: "http://127.0.0.2/hook"}, "must be https"},
		{"http localhost.evil", notify.Config{Type: "webhook", URL: "http://localhost.example.com/hook"}, "must be https"},
		{"ftp", notify.Config{Type: "webhook", URL: "ftp://example.com/x"}, "not https"},
		{"relative", notify.Config{Type: "webhook", URL: "/hook"}, "host"},
		{"no host", notify.Config{Type: "webhook", URL: "https:///hook"}, "host"},
		{"user info", notify.Config{Type: "webhook", URL: "https://u:p@example.com/hook"}, "user info"},
		{"fragment", notify.Config{Type: "webhook", URL: "https://example.com/hook#x"}, "fragment"},
		{"unparsable", notify.Config{Type: "webhook", URL: "https://exa mple.com/%zz"}, "host"},
		{"slack key", notify.Config{Type: "slack", URL: "https://h/s", SigningKey: "k"}, "takes no SigningKey"},
		{"wecom key", notify.Config{Type: "wecom", URL: u, SigningKey: "k"}, "takes no SigningKey"},
		{"webhook with recipients", notify.Config{Type: "webhook", URL: "https://h/s", ToAccounts: []string{"a"}}, "takes no ToAccounts"},
		{"chat without sender", notify.Config{Type: "chat", ToAccounts: []string{"a"}}, "needs a Chat sender"},
		{"chat without recipients", notify.Config{Type: "chat", Chat: &fakeChat{}}, "needs ToAccounts"},
		{"chat empty recipient", notify.Config{Type: "chat", Chat: &fakeChat{}, ToAccounts: []string{"a", " "}}, "ToAccounts[1] is empty"},
		{"chat with URL", notify.Config{Type: "chat", Chat: &fakeChat{}, ToAccounts: []string{"a"}, URL: u}, "takes no URL"},
		{"chat with key", notify.Config{Type: "chat", Chat: &fakeChat{}, ToAccounts: []string{"a"}, SigningKey: "k"}, "takes no SigningKey"},
		{"negative attempts", notify.Config{Type: "slack", URL: "https://h/s", MaxAttempts: -1}, "must not be negative"},
		{"negative timeout", notify.Config{Type: "slack", URL: "https://h/s", AttemptTimeout: -time.Second}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := notify.New(tc.cfg)
			if tc.want == "" {
				if err != nil || n == nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if n != nil {
				t.Errorf("returned a notifier with an error")
			}
		})
	}
}

func TestNewCopiesHTTPClientWithoutRedirects(t *testing.T) {
	// The redirect target must never be reached; the caller's client must
	// not be changed.
	final := newTarget(t, reply{body: "ok"})
	tg := newTarget(t, reply{status: http.StatusTemporaryRedirect, header: map[string]string{"Location": final.srv.URL + "/stolen"}})
	hc := &http.Client{}
	cfg := config(notify.TypeWebhook, tg.srv.URL+"/hook", newClock())
	cfg.HTTPClient, cfg.SigningKey = hc, "k"
	err := mustNew(t, cfg).Send(context.Background(), testMsg)
	if !notify.IsPermanent(err) || len(final.requests()) != 0 {
		t.Errorf("error %v; redirect target got %d requests", err, len(final.requests()))
	}
	if hc.CheckRedirect != nil {
		t.Errorf("the caller's client was changed")
	}
}

// fakeChat is a ChatSender that records messages and fails as scripted.
type fakeChat struct {
	fail  map[string][]error // per recipient, the errors of its next calls
	calls []chatCall
}

type chatCall struct{ from, to, text string }

func (f *fakeChat) SendText(_ context.Context, from, to, text string) (chatapi.MsgResult, error) {
	f.calls = append(f.calls, chatCall{from, to, text})
	if errs := f.fail[to]; len(errs) > 0 {
		f.fail[to] = errs[1:]
		if errs[0] != nil {
			return chatapi.MsgResult{}, errs[0]
		}
	}
	return chatapi.MsgResult{MsgKey: "k"}, nil
}

// callsTo counts the calls to one recipient.
func (f *fakeChat) callsTo(to string) int {
	n := 0
	for _, c := range f.calls {
		if c.to == to {
			n++
		}
	}
	return n
}
