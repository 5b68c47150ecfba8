package notify_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// TestErrorsHideSecrets makes each target fail while the answer echoes the
// secrets of its URL and its signing key, and checks that no error text,
// formatted Config or formatted Notifier shows them.
func TestErrorsHideSecrets(t *testing.T) {
	const (
		wecomKey    = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
		dingToken   = "dingtoken0123456789abcdef"
		dingSecret  = "SECdingsecret0123456789"
		feishuHook  = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
		feishuKey   = "feishusecretkey42"
		slackToken  = "XXXXslacktokenXXXX1234"
		hookToken   = "hooktoken-98765"
		hookKey     = "whsec-very-secret"
		slackTeamID = "T0123ABCD"
	)
	for _, tc := range []struct {
		name, typ, path, key string
		secrets              []string
		reply                reply
	}{
		{"wecom errmsg", "wecom", "/cgi-bin/webhook/send?key=" + wecomKey, "", []string{wecomKey},
			reply{body: `{"errcode":93000,"errmsg":"invalid webhook url, key=` + wecomKey + `"}`}},
		{"wecom 400", "wecom", "/cgi-bin/webhook/send?key=" + wecomKey, "", []string{wecomKey},
			reply{status: 400, body: `bad key ` + wecomKey}},
		{"dingtalk errmsg", "dingtalk", "/robot/send?access_token=" + dingToken, dingSecret, []string{dingToken, dingSecret},
			reply{body: `{"errcode":310000,"errmsg":"sign not match for ` + dingToken + ` with ` + dingSecret + `"}`}},
		{"dingtalk 500", "dingtalk", "/robot/send?access_token=" + dingToken, dingSecret, []string{dingToken, dingSecret},
			reply{status: 500, body: `upstream /robot/send?access_token=` + dingToken}},
		{"feishu", "feishu", "/open-apis/bot/v2/hook/" + feishuHook, feishuKey, []string{feishuHook, feishuKey},
			reply{body: `{"code":19021,"msg":"hook ` + feishuHook + ` sign fail (` + feishuKey + `)"}`}},
		{"slack", "slack", "/services/" + slackTeamID + "/B0123ABCD/" + slackToken, "", []string{slackToken, slackTeamID},
			reply{status: 404, body: "no_service /services/" + slackTeamID + "/B0123ABCD/" + slackToken}},
		{"webhook", "webhook", "/hook/" + hookToken + "?token=" + hookToken, hookKey, []string{hookToken, hookKey},
			reply{status: 401, body: "bad token " + hookToken + " or key " + hookKey}},
		{"webhook escaped", "webhook", "/h?token=" + url.QueryEscape("a b/c+d"), "", []string{"a b/c+d", url.QueryEscape("a b/c+d")},
			reply{status: 403, body: "token a b/c+d is a+b%2Fc%2Bd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, tc.reply)
			cfg := config(tc.typ, tg.srv.URL+tc.path, newClock())
			cfg.SigningKey, cfg.MaxAttempts = tc.key, 2
			n := mustNew(t, cfg)
			err := n.Send(context.Background(), testMsg)
			if err == nil {
				t.Fatal("no error")
			}
			e := asError(t, err)
			texts := []string{
				err.Error(), e.Info, fmt.Sprintf("%v %+v %#v", err, e, e),
				fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
				fmt.Sprintf("%v %+v %#v %s", n, n, n, n),
			}
			for _, s := range texts {
				for _, secret := range tc.secrets {
					if strings.Contains(s, secret) {
						t.Errorf("%q shows %q", s, secret)
					}
				}
			}
			if !strings.Contains(err.Error(), "[redacted]") {
				t.Errorf("nothing redacted in %q", err)
			}
		})
	}

	// A network error names the URL; only its scheme and host may show.
	tg := newTarget(t)
	u := tg.srv.URL + "/robot/send?access_token=" + dingToken
	tg.srv.Close()
	cfg := config("dingtalk", u, newClock())
	cfg.SigningKey, cfg.MaxAttempts = dingSecret, 1
	err := mustNew(t, cfg).Send(context.Background(), testMsg)
	if err == nil || strings.Contains(err.Error(), dingToken) || strings.Contains(err.Error(), dingSecret) ||
		strings.Contains(err.Error(), "sign=") || strings.Contains(err.Error(), "/robot/send") {
		t.Errorf("network error %v", err)
	}

	// New's errors do not show the URL's secrets either.
	_, err = notify.New(notify.Config{Type: "wecom", URL: "http://example.com/cgi-bin/webhook/send?key=" + wecomKey})
	if err == nil || strings.Contains(err.Error(), wecomKey) {
		t.Errorf("New error %v", err)
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    *notify.Error
		want string
	}{
		{&notify.Error{Type: "wecom", Status: 200, Code: 93000, Info: "invalid webhook url", Attempts: 1},
			"notify wecom: HTTP 200, code 93000: invalid webhook url"},
		{&notify.Error{Type: "slack", Status: 503, Attempts: 4}, "notify slack: HTTP 503 (after 4 attempts)"},
		{&notify.Error{Type: "chat", Code: 70402, Permanent: true}, "notify chat: code 70402"},
		{&notify.Error{Info: "read Secret s", Err: context.DeadlineExceeded}, "notify: read Secret s: context deadline exceeded"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
