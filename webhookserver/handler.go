package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// outcome is how a callback ended: the HTTP status, the answer and the metric label.
type outcome struct {
	status  int
	answer  answer
	result  string
	relayed *relayAnswer // set: the app's backend's answer (or a 502/504), written as it is
}

func ok(result string) outcome {
	return outcome{status: http.StatusOK, answer: answerOK, result: result}
}

func fail(status int, result, info string) outcome {
	return outcome{status: status, answer: failAnswer(status, info), result: result}
}

// ServeHTTP answers one Chat callback. Every answer, success or not, is the JSON the
// protocol defines.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	query := r.URL.Query() // parsed once: it allocates
	o := s.handle(w, r, query)
	switch {
	case o.relayed != nil:
		writeRelayed(w, *o.relayed)
	default:
		if o.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		writeAnswer(w, o.status, o.answer)
	}
	command := query.Get("CallbackCommand")
	s.metrics.callbacks.WithLabelValues(callback.CommandLabel(command), o.result).Inc()
	s.metrics.latency.WithLabelValues(o.result).Observe(time.Since(start).Seconds())
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, query url.Values) outcome {
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, resultBadMethod, "only POST is accepted")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fail(http.StatusRequestEntityTooLarge, resultTooLarge, "body is larger than the server accepts")
		}
		return fail(http.StatusBadRequest, resultBadRequest, "body cannot be read")
	}
	cb, err := callback.Parse(query, raw, s.opts.Now().Add(s.opts.MaxClockSkew).UnixMilli())
	if err != nil {
		return fail(http.StatusBadRequest, resultBadRequest, err.Error())
	}
	ctx := r.Context() // record bounds the wait for a write; lookups do not block

	if cb.Command != CommandAccountFull {
		// Acknowledged, not acted on; but only from the Chat backend.
		app, err := s.lookup(ctx, index.App, index.AppKey(cb.SDKAppID))
		switch {
		case err != nil:
			return fail(http.StatusServiceUnavailable, resultUnavailable, "try again later")
		case len(app) == 0:
			return fail(http.StatusForbidden, resultUnknownApp, "SdkAppid is not served here")
		}
		if _, o, done := s.authenticate(ctx, cb, app); done {
			return o
		}
		// Every command but the full one is the app's backend's to answer: the
		// "Before" ones decide (send the message or not), so the operator never
		// answers them itself while a backend is configured.
		t, err := s.relayTarget(ctx, cb, app)
		switch {
		case err != nil:
			return fail(http.StatusServiceUnavailable, resultUnavailable, "try again later")
		case t == nil:
			return ok(resultIgnored)
		}
		a := s.relay.relay(ctx, t, cb.Command, r.URL.RawQuery, r.Header["Content-Type"], raw)
		o := outcome{status: a.status, result: resultRelayed, relayed: &a}
		if a.outcome != relayAnswered {
			o.result = resultRelayFailed
		}
		return o
	}

	// The resources that list the account; when none does, the app's resources, which
	// authenticate the callback before it is acknowledged and logged.
	listing, err := s.lookup(ctx, index.AppAccount, index.AppAccountKey(cb.SDKAppID, cb.Account))
	if err != nil {
		return fail(http.StatusServiceUnavailable, resultUnavailable, "try again later")
	}
	candidates := listing
	if len(listing) == 0 {
		if candidates, err = s.lookup(ctx, index.App, index.AppKey(cb.SDKAppID)); err != nil {
			return fail(http.StatusServiceUnavailable, resultUnavailable, "try again later")
		}
		if len(candidates) == 0 {
			return fail(http.StatusForbidden, resultUnknownApp, "SdkAppid is not served here")
		}
	}
	authed, o, done := s.authenticate(ctx, cb, candidates)
	if done {
		return o
	}
	s.relayInBackground(ctx, cb, r, raw, listing, candidates)
	if len(listing) == 0 {
		s.unknownAccounts.log(index.AppAccountKey(cb.SDKAppID, cb.Account), func() {
			s.log.Info("callback for an account that no OfficialAccountCapacity lists; acknowledged, nothing recorded",
				"sdkAppID", cb.SDKAppID, "account", cb.Account)
		})
		return ok(resultUnknownAccount)
	}
	return s.record(ctx, cb, authed)
}

// relayInBackground queues an authenticated full callback for the app's backend, so
// that it keeps seeing the stream it saw before; Chat's answer never waits for it.
func (s *Server) relayInBackground(ctx context.Context, cb callback.Callback, r *http.Request, raw []byte, listing, candidates []*chatv1alpha1.OfficialAccountCapacity) {
	app := candidates
	if len(listing) > 0 {
		var err error
		if app, err = s.lookup(ctx, index.App, index.AppKey(cb.SDKAppID)); err != nil {
			return // logged by lookup; relaying is best effort
		}
	}
	t, err := s.relayTarget(ctx, cb, app)
	if err != nil || t == nil {
		return
	}
	// The header outlives the request here: a copy of the one value needed.
	s.relay.enqueue(relayJob{target: t, command: cb.Command, rawQuery: r.URL.RawQuery, contentType: slices.Clone(r.Header["Content-Type"]), body: raw})
}

// errUnsigned refuses a callback for a resource whose Secret has no callbackToken.
var errUnsigned = errors.New("the callback cannot be authenticated")

// authenticate returns the resources the callback's Sign is good for. A resource whose
// Secret has no callbackToken accepts callbacks only with --callback-allow-unsigned,
// and unsigned ones; one whose Secret cannot be read accepts nothing.
func (s *Server) authenticate(ctx context.Context, cb callback.Callback, candidates []*chatv1alpha1.OfficialAccountCapacity) ([]*chatv1alpha1.OfficialAccountCapacity, outcome, bool) {
	var authed []*chatv1alpha1.OfficialAccountCapacity
	var signErr error
	for _, oac := range candidates {
		key := types.NamespacedName{Namespace: oac.Namespace, Name: oac.Spec.CredentialsRef.Name}
		token, err := s.tokens.token(ctx, key)
		if err != nil {
			s.credFailures.log(key.String(), func() {
				s.log.Error(err, "cannot authenticate callbacks: the credentials Secret cannot be read; refusing them",
					"officialAccountCapacity", client.ObjectKeyFromObject(oac))
			})
			continue
		}
		switch {
		case token != "":
			if err := callback.CheckSign(cb, token, s.opts.Now(), s.opts.MaxClockSkew); err != nil {
				signErr = err
				continue
			}
		case !s.opts.AllowUnsigned:
			s.unsigned.log(key.String(), func() {
				s.log.Info("credentials Secret has no callbackToken: refusing its callbacks; set it to the console's webhook Token (or run with --callback-allow-unsigned)",
					"secret", key, "officialAccountCapacity", client.ObjectKeyFromObject(oac))
			})
			signErr = errUnsigned
			continue
		default:
			s.unsigned.log(key.String(), func() {
				s.log.Info("credentials Secret has no callbackToken: callbacks are accepted without a Sign; set the console's webhook Token to secure them",
					"secret", key, "officialAccountCapacity", client.ObjectKeyFromObject(oac))
			})
		}
		authed = append(authed, oac)
	}
	switch {
	case len(authed) > 0:
		return authed, outcome{}, false
	case signErr != nil:
		return nil, fail(http.StatusUnauthorized, resultUnauthorized, signErr.Error()), true
	default: // a Secret could not be read (logged above; the answer does not say which)
		return nil, fail(http.StatusServiceUnavailable, resultUnavailable, "cannot authenticate the callback now"), true
	}
}

// record queues the event for each resource and waits for the writes.
func (s *Server) record(ctx context.Context, cb callback.Callback, targets []*chatv1alpha1.OfficialAccountCapacity) outcome {
	ev := fullEvent{Account: cb.Account, EventTime: cb.EventTime}
	if len(targets) == 1 && targets[0].Status.Recorded(ev.Account, ev.EventTime) {
		return ok(resultDuplicate) // the common re-delivery: nothing to sort, queue or wait for
	}
	// A stable order keeps the outcome of a multi-resource callback deterministic.
	sort.Slice(targets, func(i, j int) bool {
		return client.ObjectKeyFromObject(targets[i]).String() < client.ObjectKeyFromObject(targets[j]).String()
	})
	var waits []*pending
	for _, oac := range targets {
		if oac.Status.Recorded(ev.Account, ev.EventTime) {
			continue // durable already: the cache shows what the API server stored
		}
		p, err := s.recorder.enqueue(client.ObjectKeyFromObject(oac), ev)
		if err != nil {
			s.log.Error(err, "cannot accept event", "officialAccountCapacity", client.ObjectKeyFromObject(oac),
				"account", cb.Account, "eventTime", cb.EventTime)
			return fail(http.StatusServiceUnavailable, resultUnavailable, "cannot accept the event now")
		}
		waits = append(waits, p)
	}
	// Held up to WriteTimeout, well past the Chat backend's 2 s (see Options).
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	written := false
	for _, p := range waits {
		select {
		case res := <-p.done:
			if res.err != nil {
				return fail(http.StatusServiceUnavailable, resultUnavailable, "the event could not be recorded")
			}
			written = written || res.written
		case <-ctx.Done():
			// Still queued: the writer keeps trying until it is written. The Chat
			// backend gave up at 2 s and, with its retry on, has re-sent it.
			return fail(http.StatusServiceUnavailable, resultUnavailable, "the event is queued but not yet recorded")
		}
	}
	if !written {
		return ok(resultDuplicate)
	}
	return ok(resultRecorded)
}

// lookup finds resources by a field index of the cache. The objects are the cache's
// own (not copies), so they must only be read.
func (s *Server) lookup(ctx context.Context, index, key string) ([]*chatv1alpha1.OfficialAccountCapacity, error) {
	if out, ok := s.index.get(index, key); ok {
		return out, nil
	}
	var list chatv1alpha1.OfficialAccountCapacityList
	if err := s.cache.List(ctx, &list, client.MatchingFields{index: key}, client.UnsafeDisableDeepCopy); err != nil {
		s.log.Error(err, "look up resources in the cache", "index", index, "key", key)
		return nil, fmt.Errorf("look up %s=%s: %w", index, key, err)
	}
	out := make([]*chatv1alpha1.OfficialAccountCapacity, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
