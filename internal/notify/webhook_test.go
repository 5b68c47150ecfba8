package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// webhookSignatureRef is the documented algorithm, written out here apart
// from the package: hex(HMAC-SHA256(key, timestamp + "." + body)).
func webhookSignatureRef(key string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "%d.%s", ts, body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookSignatureVector(t *testing.T) {
	// Computed once with:
	//   printf '1717228800.{"id":"a"}' | openssl dgst -sha256 -hmac 'whsec-test'
	const want = "cb245e7ac0be288a6b934ad932a7e10434e3efe3ab89e795b7e414011f3ad6be"
	body := []byte(`{"id":"a"}`)
	if got := webhookSignatureRef("whsec-test", 1717228800, body); got != want {
		t.Fatalf("reference %q, openssl says %q", got, want)
	}
	if got := notify.WebhookSignature("whsec-test", 1717228800, body); got != want {
		t.Fatalf("WebhookSignature %q, want %q", got, want)
	}
}

func TestWebhookSend(t *testing.T) {
	const key = "whsec-test"
	for _, signed := range []bool{false, true} {
		t.Run(fmt.Sprint("signed=", signed), func(t *testing.T) {
			tg := newTarget(t, reply{status: 204})
			cfg := config(notify.TypeWebhook, tg.srv.URL+"/oac/events?token=abcdef123", newClock())
			if signed {
				cfg.SigningKey = key
			}
			m := testMsg
			m.ActiveAccount = ""
			m.Time = time.Date(2024, 6, 1, 16, 0, 0, 0, time.FixedZone("CST", 8*3600))
			if err := mustNew(t, cfg).Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			reqs := tg.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			checkPost(t, r, "/oac/events")
			if r.RawQuery != "token=abcdef123" {
				t.Errorf("query %q", r.RawQuery)
			}
			checkJSON(t, r.Body, map[string]any{
				"id": testMsg.ID, "kind": "full", "sdkAppID": 1400000001, "account": "oa_1",
				"resource": "prod/oac", "time": "2024-06-01T08:00:00Z", "action": "switched to oa_2",
				"activeAccount": "", "text": testMsg.Text,
			})
			if got := r.Header.Get("X-OAC-Event-ID"); got != testMsg.ID {
				t.Errorf("event ID header %q", got)
			}
			ts, sig := r.Header.Get("X-OAC-Timestamp"), r.Header.Get("X-OAC-Signature")
			if !signed {
				if ts != "" || sig != "" {
					t.Errorf("unsigned request has timestamp %q, signature %q", ts, sig)
				}
				return
			}
			if ts != "1717228800" {
				t.Errorf("timestamp %q", ts)
			}
			if want := "sha256=" + webhookSignatureRef(key, 1717228800, r.Body); sig != want {
				t.Errorf("signature %q, want %q", sig, want)
			}
		})
	}
}

func TestWebhookZeroTimeIsNow(t *testing.T) {
	tg := newTarget(t, reply{})
	m := testMsg
	m.Time = time.Time{}
	if err := mustNew(t, config(notify.TypeWebhook, tg.srv.URL, newClock())).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := decode(t, tg.requests()[0].Body)["time"]; got != "2024-06-01T08:00:00Z" {
		t.Errorf("time %v", got)
	}
}

func TestSendRejectsMessageWithoutID(t *testing.T) {
	tg := newTarget(t, reply{})
	m := testMsg
	m.ID = ""
	err := mustNew(t, config(notify.TypeWebhook, tg.srv.URL, newClock())).Send(context.Background(), m)
	if !notify.IsPermanent(err) || len(tg.requests()) != 0 {
		t.Errorf("error %v, %d requests", err, len(tg.requests()))
	}
}

// The worked example of docs/notifications.md, computed there with openssl: the code
// and the documentation must agree.
func TestWebhookSignatureDocumentedExample(t *testing.T) {
	body := []byte(`{"id":"chat/support/@TOA#_support_a/1764316800000/full","kind":"full"}`)
	const want = "12dbba653b290b00533944e5f9f9689c27858b829844004830798c126cb9a815"
	if got := notify.WebhookSignature("my-signing-key", 1764316800, body); got != want {
		t.Errorf("WebhookSignature = %s, want %s (docs/notifications.md)", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	now := time.Unix(1764316800, 0)
	body := []byte(`{"id":"x"}`)
	signed := func(key string, ts int64, b []byte) http.Header {
		h := http.Header{}
		h.Set(notify.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(notify.HeaderSignature, "sha256="+notify.WebhookSignature(key, ts, b))
		return h
	}
	without := func(h http.Header, name string) http.Header {
		h.Del(name)
		return h
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		want string
	}{
		{"signed", signed("k", now.Unix(), body), body, ""},
		{"4 minutes old", signed("k", now.Unix()-240, body), body, ""},
		{"another key", signed("other", now.Unix(), body), body, "does not match"},
		{"another body", signed("k", now.Unix(), []byte(`{"id":"y"}`)), body, "does not match"},
		{"stale", signed("k", now.Unix()-301, body), body, "too far"},
		{"future", signed("k", now.Unix()+301, body), body, "too far"},
		{"no timestamp", without(signed("k", now.Unix(), body), notify.HeaderTimestamp), body, "not Unix seconds"},
		{"no signature", without(signed("k", now.Unix(), body), notify.HeaderSignature), body, "does not match"},
	} {
		err := notify.VerifyWebhook("k", tc.h, tc.body, now, 5*time.Minute)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
