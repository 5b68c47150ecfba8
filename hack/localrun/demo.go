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
type demo struct {
	chat       *chatapitest.Server
	stream     http.Handler
	signingKey string
	out        io.Writer

	mu       sync.Mutex
	messages []string
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
	default:
		http.Error(w, "not found: POST /notify, GET /messages, POST /subscribers, POST /stream", http.StatusNotFound)
	}
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
