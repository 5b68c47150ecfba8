package callback

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The documented example of the Chat webhook security page.
const (
	docToken       = "xxxxyyyy"
	docRequestTime = 1669872112
	docSign        = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
)

func TestSignDocumentedVector(t *testing.T) {
	if got := Sign(docToken, docRequestTime); got != docSign {
		t.Fatalf("Sign(%q, %d) = %s, want %s", docToken, docRequestTime, got, docSign)
	}
}

func TestCheckSign(t *testing.T) {
	at := time.Unix(docRequestTime, 0)
	cases := []struct {
		name    string
		sign    string
		rt      int64
		token   string
		now     time.Time
		wantErr string
	}{
		{"documented vector", docSign, docRequestTime, docToken, at, ""},
		{"uppercase hex", strings.ToUpper(docSign), docRequestTime, docToken, at, ""},
		{"59 s late", docSign, docRequestTime, docToken, at.Add(59 * time.Second), ""},
		{"60 s early", docSign, docRequestTime, docToken, at.Add(-60 * time.Second), ""},
		{"61 s late", docSign, docRequestTime, docToken, at.Add(61 * time.Second), "outside the accepted window"},
		{"61 s early", docSign, docRequestTime, docToken, at.Add(-61 * time.Second), "outside the accepted window"},
		{"wrong token", docSign, docRequestTime, "xxxxyyyz", at, "does not match"},
		{"sign of another time", docSign, docRequestTime + 1, docToken, at, "does not match"},
		{"truncated sign", docSign[:63], docRequestTime, docToken, at, "does not match"},
		{"missing sign", "", docRequestTime, docToken, at, "Sign is required"},
		{"missing RequestTime", docSign, 0, docToken, at, "RequestTime (Unix seconds) is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSign(Callback{Sign: tc.sign, RequestTime: tc.rt}, tc.token, tc.now, time.Minute)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *signError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want a signError containing %q", err, tc.wantErr)
			}
		})
	}
}

// What SetQuery and Body build is what Parse and CheckSign accept.
func TestBuiltCallbackIsAccepted(t *testing.T) {
	now := time.Unix(docRequestTime, 0)
	q := url.Values{}
	SetQuery(q, 1400000001, CommandAccountFull, docToken, now)
	cb, err := Parse(q, Body(CommandAccountFull, "@TOA#_a", 1670574414123), testNotAfter)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSign(cb, docToken, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	want := Callback{SDKAppID: 1400000001, Command: CommandAccountFull, Sign: docSign, RequestTime: docRequestTime, Account: "@TOA#_a", EventTime: 1670574414123}
	if cb != want {
		t.Fatalf("parsed %+v, want %+v", cb, want)
	}
	unsigned := url.Values{}
	SetQuery(unsigned, 1, CommandAccountFull, "", now)
	if unsigned.Has("Sign") || unsigned.Has("RequestTime") {
		t.Fatalf("unsigned query has %v", unsigned)
	}
}
