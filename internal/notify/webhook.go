package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Headers of the generic webhook.
const (
	// HeaderEventID carries Message.ID, for receivers to drop repeats.
	HeaderEventID = "X-OAC-Event-ID"
	// HeaderTimestamp carries the signing time, unix seconds.
	HeaderTimestamp = "X-OAC-Timestamp"
	// HeaderSignature carries "sha256=" + WebhookSignature.
	HeaderSignature = "X-OAC-Signature"
)

// WebhookPayload is the generic webhook's body; its JSON shape is stable.
type WebhookPayload struct {
	ID            string `json:"id"`            // Message.ID
	Kind          string `json:"kind"`          // Message.Kind
	SDKAppID      int64  `json:"sdkAppID"`      // Message.AppID
	Account       string `json:"account"`       // Message.Account
	Resource      string `json:"resource"`      // Message.Resource, "namespace/name"
	Time          string `json:"time"`          // Message.Time, RFC 3339 in UTC
	Action        string `json:"action"`        // Message.Action
	ActiveAccount string `json:"activeAccount"` // Message.ActiveAccount, "" when none
	Text          string `json:"text"`          // Message.Text
}

// webhookPayload is the payload of m, whose Time is set.
func webhookPayload(m Message) WebhookPayload {
	return WebhookPayload{
		ID: m.ID, Kind: m.Kind, SDKAppID: m.AppID, Account: m.Account, Resource: m.Resource,
		Time: m.Time.UTC().Format(time.RFC3339), Action: m.Action, ActiveAccount: m.ActiveAccount, Text: m.Text,
	}
}

// WebhookSignature is the lowercase hex HMAC-SHA256, keyed with key, of
// timestamp (decimal unix seconds) + "." + body. The X-OAC-Signature header
// is "sha256=" followed by it.
func WebhookSignature(key string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook is what a receiver of the webhook target does with a message
// (docs/notifications.md): the X-OAC-Signature of h must be the signature of body
// with key, compared in constant time, and X-OAC-Timestamp within maxSkew of now.
func VerifyWebhook(key string, h http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	switch {
	case err != nil:
		return errors.New("X-OAC-Timestamp is not Unix seconds")
	case now.Sub(time.Unix(ts, 0)).Abs() > maxSkew:
		return errors.New("X-OAC-Timestamp is too far from now")
	case !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte("sha256="+WebhookSignature(key, ts, body))):
		return errors.New("X-OAC-Signature does not match")
	}
	return nil
}

// webhook posts the generic schema to any URL.
type webhook struct{ *deliverer }

func newWebhook(_ Config, d *deliverer) Notifier { return &webhook{d} }

// Send posts the payload, signed when there is a key; any 2xx is success.
func (w *webhook) Send(ctx context.Context, m Message) error {
	m, err := w.prepare(m)
	if err != nil {
		return err
	}
	body, err := marshal(webhookPayload(m))
	if err != nil {
		return w.permanent(err)
	}
	return w.postJSON(ctx, func(now time.Time) (request, error) {
		h := http.Header{}
		h.Set(HeaderEventID, m.ID)
		if w.key != "" {
			ts := now.Unix()
			h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
			h.Set(HeaderSignature, "sha256="+WebhookSignature(w.key, ts, body))
		}
		return request{url: w.url, header: h, body: body}, nil
	}, func(status int, body []byte) *Error {
		if statusOK(status) {
			return nil
		}
		return statusError(status, body)
	})
}
