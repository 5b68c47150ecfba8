package callback

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The sample request of the callback's documentation page.
const (
	sampleQuery = "SdkAppid=1400000001&CallbackCommand=OfficialAccount.CallbackAfterOfficialAccountFull&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	sampleBody  = `{"CallbackCommand": "OfficialAccount.CallbackAfterOfficialAccountFull", "Official_Account" : "@TOA#_test_OA_for_penn", "EventTime": 1670574414123}`
)

// testNotAfter is the latest EventTime the parser tests accept: 2023-01-01.
const testNotAfter = 1672531200000

func mustQuery(t testing.TB, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseSample(t *testing.T) {
	cb, err := Parse(mustQuery(t, sampleQuery+"&Sign="+docSign+"&RequestTime=1669872112"), []byte(sampleBody), testNotAfter)
	if err != nil {
		t.Fatal(err)
	}
	want := Callback{SDKAppID: 1400000001, Command: CommandAccountFull, Sign: docSign, RequestTime: 1669872112,
		Account: "@TOA#_test_OA_for_penn", EventTime: 1670574414123}
	if cb != want {
		t.Fatalf("parsed %+v, want %+v", cb, want)
	}
}

// What is missing or malformed in Sign and RequestTime is left for CheckSign to refuse
// as unauthenticated (401), not refused by the parser as a bad request (400).
func TestParseLeavesAuthenticationToCheckSign(t *testing.T) {
	at := time.Unix(1669872112, 0)
	for _, tc := range []struct{ name, auth, want string }{
		{"no Sign or RequestTime", "", "Sign is required"},
		{"empty Sign", "&Sign=&RequestTime=1669872112", "Sign is required"},
		{"Sign without RequestTime", "&Sign=" + docSign, "RequestTime (Unix seconds) is required"},
		{"RequestTime without Sign", "&RequestTime=1669872112", "Sign is required"},
		{"RequestTime not a number", "&Sign=" + docSign + "&RequestTime=now", "RequestTime (Unix seconds) is required"},
		{"RequestTime negative", "&Sign=" + docSign + "&RequestTime=-5", "RequestTime (Unix seconds) is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := Parse(mustQuery(t, sampleQuery+tc.auth), []byte(sampleBody), testNotAfter)
			if err != nil {
				t.Fatalf("Parse refused it: %v", err)
			}
			err = CheckSign(cb, docToken, at, time.Minute)
			var se *signError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckSign = %v, want a signError containing %q", err, tc.want)
			}
		})
	}
}

func TestParseOtherCommand(t *testing.T) {
	q := "SdkAppid=1400000001&CallbackCommand=OfficialAccount.CallbackAfterAddSubscriber&OptPlatform=IOS"
	body := `{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_x","SubscribeAccountList":[{"Subscriber_Account":"u1"}],"EventTime":1}`
	cb, err := Parse(mustQuery(t, q), []byte(body), testNotAfter)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Command != "OfficialAccount.CallbackAfterAddSubscriber" || cb.Account != "" || cb.EventTime != 0 {
		t.Fatalf("other command parsed as %+v", cb)
	}
}

func TestParseBadInput(t *testing.T) {
	const full = "CallbackCommand=OfficialAccount.CallbackAfterOfficialAccountFull"
	cases := []struct {
		name, query, body, want string
	}{
		{"no SdkAppid", full, sampleBody, "SdkAppid is required"},
		{"empty SdkAppid", "SdkAppid=&" + full, sampleBody, "SdkAppid is required"},
		{"SdkAppid not a number", "SdkAppid=abc&" + full, sampleBody, "SdkAppid must be a positive integer"},
		{"SdkAppid zero", "SdkAppid=0&" + full, sampleBody, "SdkAppid must be a positive integer"},
		{"SdkAppid negative", "SdkAppid=-1&" + full, sampleBody, "SdkAppid must be a positive integer"},
		{"SdkAppid overflows", "SdkAppid=99999999999999999999&" + full, sampleBody, "SdkAppid must be a positive integer"},
		{"SdkAppid twice", "SdkAppid=1&SdkAppid=2&" + full, sampleBody, "SdkAppid is given more than once"},
		{"no CallbackCommand", "SdkAppid=1", sampleBody, "CallbackCommand is required"},
		{"Sign twice", sampleQuery + "&Sign=a&Sign=b&RequestTime=1", sampleBody, "Sign is given more than once"},
		{"empty body", sampleQuery, "", "not a JSON object"},
		{"duplicate key", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_a","Official_Account":"@TOA#_b","EventTime":1}`, "Official_Account more than once"},
		{"duplicate key, other command", "SdkAppid=1&CallbackCommand=x", `{"CallbackCommand":"x","CallbackCommand":"x"}`, "CallbackCommand more than once"},
		{"body not JSON", sampleQuery, "CallbackCommand=x", "not a JSON object"},
		{"body a JSON array", sampleQuery, `[1,2]`, "not a JSON object"},
		{"body with trailing garbage", sampleQuery, sampleBody + "}", "not a JSON object"},
		{"body without CallbackCommand", sampleQuery, `{"Official_Account":"@TOA#_x","EventTime":1}`, "no CallbackCommand"},
		{"CallbackCommand not a string", sampleQuery, `{"CallbackCommand":1}`, "CallbackCommand must be a string"},
		{"CallbackCommand null", sampleQuery, `{"CallbackCommand":null}`, "no CallbackCommand"},
		{"field names in another case", sampleQuery, `{"callbackcommand":"OfficialAccount.CallbackAfterOfficialAccountFull","official_account":"@TOA#_x","eventtime":1}`, "no CallbackCommand"},
		{"body JSON null", sampleQuery, `null`, "not a JSON object"},
		{"CallbackCommand mismatch", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterSendMsg","Official_Account":"@TOA#_x","EventTime":1}`, "does not match"},
		{"no Official_Account", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","EventTime":1}`, "no Official_Account"},
		{"empty Official_Account", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"","EventTime":1}`, "no Official_Account"},
		{"Official_Account too long", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_` + strings.Repeat("x", 251) + `","EventTime":1}`, "at most 256 bytes"},
		{"Official_Account not a string", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":7,"EventTime":1}`, "Official_Account must be a string"},
		{"no EventTime", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x"}`, "no EventTime"},
		{"null EventTime", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":null}`, "no EventTime"},
		{"EventTime quoted", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":"1670574414123"}`, "EventTime must be"},
		{"EventTime fractional", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":1670574414123.5}`, "EventTime must be"},
		{"EventTime exponent", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":1.6e12}`, "EventTime must be"},
		{"EventTime zero", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":0}`, "EventTime must be"},
		{"EventTime negative", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":-5}`, "EventTime must be"},
		{"EventTime in the future", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":1672531200001}`, "in the future"},
		{"EventTime in year 9999", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":253402300799000}`, "in the future"},
		{"EventTime overflows", sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":99999999999999999999}`, "EventTime must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mustQuery(t, tc.query), []byte(tc.body), testNotAfter)
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a requestError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzParseCallback feeds arbitrary queries and bodies to the parser. It must never
// panic, must only fail with a requestError, and whatever it accepts must be a
// callback the rest of the server can rely on.
func FuzzParseCallback(f *testing.F) {
	f.Add(sampleQuery, sampleBody)
	f.Add(sampleQuery+"&Sign="+docSign+"&RequestTime=1669872112", sampleBody)
	f.Add("SdkAppid=1&CallbackCommand=OfficialAccount.CallbackAfterAddSubscriber", `{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber"}`)
	f.Add(sampleQuery, `{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_x","EventTime":"1"}`)
	f.Add("SdkAppid=1&SdkAppid=1&CallbackCommand=x", `{"CallbackCommand":"x"}`)
	f.Add("%zz", "\x00")
	f.Fuzz(func(t *testing.T, rawQuery, body string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		cb, err := Parse(q, []byte(body), testNotAfter)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("error of another type: %T %v", err, err)
			}
			return
		}
		if cb.SDKAppID <= 0 || cb.Command == "" {
			t.Fatalf("accepted without app or command: %+v", cb)
		}
		if cb.RequestTime < 0 {
			t.Fatalf("accepted a negative RequestTime: %+v", cb)
		}
		if cb.Command == CommandAccountFull {
			if cb.Account == "" || len(cb.Account) > maxAccountBytes || cb.EventTime <= 0 || cb.EventTime > testNotAfter {
				t.Fatalf("accepted a bad account event: %+v", cb)
			}
		}
	})
}
