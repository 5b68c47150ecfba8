package chatapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
)

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		ok        bool
		code      int
		retryable bool
		malformed bool
	}{
		{"ok", 200, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, true, 0, false, false},
		{"ok without code", 200, `{"ActionStatus":"OK"}`, true, 0, false, false},
		{"ok code as string", 200, `{"ActionStatus":"OK","ErrorCode":"0"}`, true, 0, false, false},
		{"fail internal", 200, `{"ActionStatus":"FAIL","ErrorCode":70169,"ErrorInfo":"timeout"}`, false, 70169, true, false},
		{"fail rate limited", 200, `{"ActionStatus":"FAIL","ErrorCode":60007,"ErrorInfo":"slow down"}`, false, 60007, true, false},
		{"fail bad param", 200, `{"ActionStatus":"FAIL","ErrorCode":70402,"ErrorInfo":"bad"}`, false, 70402, false, false},
		{"fail signature", 200, `{"ActionStatus":"FAIL","ErrorCode":70009,"ErrorInfo":"sig"}`, false, 70009, false, false},
		{"fail no code", 200, `{"ActionStatus":"FAIL"}`, false, 0, false, false},
		{"ok but code", 200, `{"ActionStatus":"OK","ErrorCode":20004}`, false, 20004, true, false},
		{"missing ActionStatus", 200, `{"ErrorCode":0}`, false, 0, false, true},
		{"unknown ActionStatus", 200, `{"ActionStatus":"MAYBE"}`, false, 0, false, true},
		{"json array", 200, `[1,2]`, false, 0, false, true},
		{"json null", 200, `null`, false, 0, false, true},
		{"code wrong type", 200, `{"ActionStatus":"FAIL","ErrorCode":{"a":1}}`, false, 0, false, true},
		{"non-JSON", 200, `<html>502 Bad Gateway</html>`, false, 0, true, true},
		{"empty body", 200, ``, false, 0, true, true},
		{"truncated", 200, `{"ActionStatus":"OK","Err`, false, 0, true, true},
		{"http 500", 500, `Internal Server Error`, false, 0, true, false},
		{"http 502 json", 502, `{"ActionStatus":"FAIL","ErrorCode":70500}`, false, 70500, true, false},
		{"http 429", 429, ``, false, 0, true, false},
		{"http 404", 404, `not found`, false, 0, false, false},
		{"http 302", 302, ``, false, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := parseAnswer(tc.status, []byte(tc.body))
			if tc.ok {
				if ae != nil {
					t.Fatalf("got %v, want success", ae)
				}
				return
			}
			if ae == nil {
				t.Fatal("got success")
			}
			if ae.Code != tc.code || ae.HTTPStatus != tc.status {
				t.Errorf("code %d status %d, want %d %d", ae.Code, ae.HTTPStatus, tc.code, tc.status)
			}
			if ae.Retryable() != tc.retryable || IsRetryable(ae) != tc.retryable {
				t.Errorf("Retryable %v, want %v", ae.Retryable(), tc.retryable)
			}
			if errors.Is(ae, ErrMalformedAnswer) != tc.malformed {
				t.Errorf("malformed %v, want %v (%v)", !tc.malformed, tc.malformed, ae)
			}
		})
	}
}

func TestIsRetryable(t *testing.T) {
	urlErr := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, true},
		{"net error", urlErr, true},
		{"transport", &TransportError{Err: urlErr}, true},
		{"transport canceled", &TransportError{Err: fmt.Errorf("x: %w", context.Canceled)}, false},
		{"wrapped api retryable", fmt.Errorf("ctx: %w", &APIError{Code: CodeInternalTimeout}), true},
		{"wrapped api auth", fmt.Errorf("ctx: %w", &APIError{Code: CodeUserSigVerifyFailed}), false},
		{"already exists", &APIError{Code: CodeOfficialAccountIDInUse}, false},
	} {
		if got := IsRetryable(tc.err); got != tc.want {
			t.Errorf("%s: IsRetryable = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !IsAuthError(fmt.Errorf("x: %w", &APIError{Code: CodeUserSigExpired})) || IsAuthError(&APIError{Code: CodeInternalError}) {
		t.Error("IsAuthError misclassifies")
	}
}

func TestCodeSetsDisjoint(t *testing.T) {
	for code := 0; code < 200000; code++ {
		n := 0
		for _, f := range []func(int) bool{RetryableCode, AuthCode, AlreadyExistsCode} {
			if f(code) {
				n++
			}
		}
		if n > 1 {
			t.Errorf("code %d is in more than one set", code)
		}
	}
	if !AlreadyExistsCode(130008) || !RetryableCode(70169) || !RetryableCode(60007) || !AuthCode(70009) {
		t.Error("documented codes misplaced")
	}
}

func TestRedactTransportError(t *testing.T) {
	const sig, key = "eJwSECRETSIG*-_", "the-key"
	in := &url.Error{Op: "Post", URL: "https://h/v4/s/c?sdkappid=1&usersig=" + sig + "&random=5",
		Err: fmt.Errorf("dial: something about %s and %s", sig, key)}
	out := redactTransportError(in, sig, key)
	msg := out.Error()
	if strings.Contains(msg, sig) || strings.Contains(msg, key) || strings.Contains(msg, "usersig") || strings.Contains(msg, "?") {
		t.Errorf("not redacted: %s", msg)
	}
	if !strings.Contains(msg, "https://h/v4/s/c") {
		t.Errorf("lost the path: %s", msg)
	}
}

// FuzzParseAnswer feeds arbitrary bodies to the answer parsers. They must
// not panic, a success must really be OK/0, and info and subscriber items
// must map 1:1, a subscriber's Result being documented or its Err set.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`,
		`{"ActionStatus":"FAIL","ErrorCode":70169,"ErrorInfo":"x"}`,
		`{"ActionStatus":"OK","ErrorCode":0,"OfficialAccountInfoList":[{"Official_Account":"@TOA#_a","SubscriberNum":5,"MaxSubscriberNum":"9"},{"ErrorCode":130004}]}`,
		`{"ActionStatus":"OK","OfficialAccountInfoList":[{"SubscriberNum":1e3}]}`,
		`{"ActionStatus":"OK","MsgTime":1700000000,"MsgKey":"1_2_3"}`,
		`{"ActionStatus":"OK","SubscriberList":[{"Subscriber_Account":"u2","Result":"2"},{"Subscriber_Account":"u1","Result":1},{"Subscriber_Account":"u1","Result":9}]}`,
		`<html>`, ``, `null`, `{"ActionStatus":`, `{"ErrorCode":1.5}`,
	} {
		f.Add(200, []byte(s))
	}
	f.Add(500, []byte(`oops`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ae := parseAnswer(status, body)
		if ae == nil {
			if status != 200 {
				t.Fatalf("status %d accepted", status)
			}
			var ans getInfoAnswer
			if err := jsonUnmarshal(body, &ans); err == nil {
				batch := []string{"@TOA#_a", "@TOA#_b"}
				got := matchInfoItems(batch, ans.Items)
				if len(got) != len(batch) {
					t.Fatalf("%d infos for %d ids", len(got), len(batch))
				}
				for i, g := range got {
					if g.Account != batch[i] {
						t.Fatalf("info %d is for %q", i, g.Account)
					}
				}
			}
			var subs addSubscriberAnswer
			if err := jsonUnmarshal(body, &subs); err == nil {
				batch := []string{"u1", "u2"}
				got := matchSubscriberItems("@TOA#_a", batch, subs.Items)
				if len(got) != len(batch) {
					t.Fatalf("%d results for %d subscribers", len(got), len(batch))
				}
				for i, g := range got {
					if g.Subscriber != batch[i] || g.Result < SubscribeFailed || g.Result > SubscribeAlreadySubscribed ||
						g.Err != nil && (g.Result != SubscribeFailed || !errors.Is(g.Err, ErrMalformedAnswer)) {
						t.Fatalf("result %d = %+v", i, g)
					}
				}
			}
			return
		}
		_ = ae.Error()
		_ = ae.Retryable()
	})
}
