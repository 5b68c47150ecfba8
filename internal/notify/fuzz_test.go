package notify

import (
	"testing"
	"time"
)

// FuzzAnswer feeds the readers of what targets answer (outside input) with anything:
// they must never panic, call a delivery good only for a 2xx answer with result code
// 0, and read no negative Retry-After.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []struct {
		status     int
		body       string
		retryAfter string
	}{
		{200, `{"errcode":0,"errmsg":"ok"}`, ""},
		{200, `{"errcode":45009,"errmsg":"api freq out of limit"}`, "7"},
		{200, `{"code":0,"msg":"success"}`, ""},
		{200, `{"StatusCode":0,"StatusMessage":"success"}`, ""},
		{200, `{"code":19021,"msg":"sign match fail"}`, ""},
		{429, `{"errcode":130101}`, "Wed, 21 Oct 2015 07:28:00 GMT"},
		{500, `<html>502</html>`, "-1"},
		{200, `{"errcode":"0"}`, "99999999999999999999"},
		{200, ``, " 3 "},
	} {
		f.Add(seed.status, []byte(seed.body), seed.retryAfter)
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte, header string) {
		for name, read := range map[string]func([]byte) (int, bool, string, error){"errcode": readErrcode, "feishu": readFeishuCode} {
			e := codeCheck(read, 45009)(status, body)
			code, ok, _, err := read(body)
			if e == nil && (!statusOK(status) || err != nil || !ok || code != 0) {
				t.Errorf("%s: HTTP %d %q taken as delivered", name, status, body)
			}
			if e != nil && statusOK(status) && err == nil && ok && code == 0 {
				t.Errorf("%s: HTTP %d %q (code 0) taken as failed: %v", name, status, body, e)
			}
		}
		if d := retryAfter(header, now); d < 0 {
			t.Errorf("Retry-After %q read as %v", header, d)
		}
	})
}
