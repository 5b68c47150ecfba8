package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// demo is everything of the local mode that is not Tencent's: the notification sink
// of the sample's webhook target, and a handle on the fake Chat's subscriber counts
// (in real life, users subscribing).
//
//	POST /notify       the sink: checks the signature, prints the message, keeps it
//	GET  /messages     the messages received so far, "<kind>: <text>" a line
//	POST /subscribers  account=<id>[&subscribers=<n>]: set an account's subscriber
//	                   count in the fake Chat; without n, fill it to its limit
//	POST /stream       [rate=<users/s>&seconds=<n>&delay=<duration>]: users subscribe
//	                   to the published account, as an app sends them (stream.go)
//	POST /im/callback  the app's own webhook backend (the sample's callbackForward):
//	                   checks the Sign as Chat made it, allows every message
//	GET  /backend      the callbacks the backend received, "<command> <detail>" a line
type demo struct {
	chat          *chatapitest.Server
	stream        http.Handler
	signingKey    string
	callbackToken string
	out           io.Writer

	mu       sync.Mutex
	messages []string
	received []string
}

func (d *demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/notify":
		d.notify(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/messages":
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, m := range d.messages {
			fmt.Fprintln(w, m)
		}
	case r.Method == http.MethodPost && r.URL.Path == "/subscribers":
		d.subscribers(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/stream":
		d.stream.ServeHTTP(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/im/callback":
		d.backend(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/backend":
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, m := range d.received {
			fmt.Fprintln(w, m)
		}
	default:
		http.Error(w, "not found: POST /notify, GET /messages, POST /subscribers, POST /stream, POST /im/callback, GET /backend", http.StatusNotFound)
	}
}

// backend plays the app's own webhook backend, as it was before the operator: it
// checks the Sign of the query Chat made (the operator relays it unchanged) and
// answers; a C2C.CallbackBeforeSendMsg is allowed (ErrorCode 0).
func (d *demo) backend(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
	if d.callbackToken != "" && q.Get("Sign") != callback.Sign(d.callbackToken, rt) {
		fmt.Fprintln(d.out, "backend: refused a callback with a bad Sign")
		http.Error(w, "bad Sign", http.StatusUnauthorized)
		return
	}
	var b struct {
		Command string `json:"CallbackCommand"`
		From    string `json:"From_Account"`
		To      string `json:"To_Account"`
		Account string `json:"Official_Account"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(raw, &b)
	}
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	line := b.Command + " " + b.Account
	if b.From != "" {
		line = b.Command + " " + b.From + " -> " + b.To
	}
	d.mu.Lock()
	d.received = append(d.received, line)
	d.mu.Unlock()
	fmt.Fprintf(d.out, "backend: %s (Sign ok)\n", line)
	w.Header().Set("Content-Type", "application/json")
	info := ""
	if b.Command == "C2C.CallbackBeforeSendMsg" {
		info = "allowed by the app's backend"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ActionStatus": "OK", "ErrorInfo": info, "ErrorCode": 0})
}

func (d *demo) notify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Check the signature as a receiver should (docs/notifications.md).
	if err := notify.VerifyWebhook(d.signingKey, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		fmt.Fprintln(d.out, "sink: refused a message with a bad signature")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m struct{ ID, Kind, Text string }
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "decode body: "+err.Error(), http.StatusBadRequest)
		return
	}
	line := m.Kind + ": " + m.Text
	d.mu.Lock()
	d.messages = append(d.messages, line)
	d.mu.Unlock()
	fmt.Fprintf(d.out, "sink: %s (id %s, signature ok)\n", line, m.ID)
}

func (d *demo) subscribers(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("account")
	a, ok := d.chat.Account(id)
	if !ok {
		http.Error(w, fmt.Sprintf("no account %q in the fake Chat", id), http.StatusNotFound)
		return
	}
	n := a.MaxSubscriberNum
	if s := r.FormValue("subscribers"); s != "" {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v < 0 || v > a.MaxSubscriberNum {
			http.Error(w, fmt.Sprintf("subscribers must be 0 to %d", a.MaxSubscriberNum), http.StatusBadRequest)
			return
		}
		n = v
	}
	d.chat.SetSubscriberNum(id, n)
	fmt.Fprintf(w, "%s: %d of %d subscribers\n", id, n, a.MaxSubscriberNum)
}
