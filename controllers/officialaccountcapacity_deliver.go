package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
	"github.com/oacapacity/oa-capacity-operator/internal/utf8cut"
)

// NotifyOptions are the delivery settings of every notify target. A zero Budget gets
// DefaultNotifyOptions' one.
type NotifyOptions struct {
	// Template holds the HTTP client, clock and retry settings of the notifiers; its
	// zero fields get internal/notify's defaults, the one set of them.
	Template notify.Config
	// Budget bounds the delivery to one target in one reconcile, retries included;
	// what is left is tried again later.
	Budget time.Duration
}

// DefaultNotifyOptions keep a reconcile short: half a minute per target, whatever the
// notifiers' own retries would take; what is left is tried in a later reconcile.
func DefaultNotifyOptions() NotifyOptions {
	return NotifyOptions{Budget: 30 * time.Second}
}

// delivery is what became of one target's queue in one reconcile.
type delivery struct {
	name   string   // of the target
	index  int      // in status.notifications
	sent   []string // IDs of the messages accepted
	err    error
	config string // fingerprint of the target's spec and Secret
}

// deliver sends each target's pending messages, targets in parallel, each in order,
// and stores the outcome in status at once, so that a conflicting write cannot make a
// later reconcile send them again. It returns when to try again (0: nothing left).
func (r *OfficialAccountCapacityReconciler) deliver(ctx context.Context, run *reconcileRun) (time.Duration, error) {
	oac := run.oac
	if !slices.ContainsFunc(oac.Status.Notifications, func(n chatv1alpha1.NotificationStatus) bool { return len(n.Pending) > 0 }) {
		return 0, nil
	}
	// The queue must be the stored one: from a cache that lags behind an earlier
	// reconcile's delivery, messages already accepted would be sent again.
	fresh := &metav1.PartialObjectMetadata{}
	fresh.SetGroupVersionKind(chatv1alpha1.GroupVersion.WithKind("OfficialAccountCapacity"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(oac), fresh); err != nil {
		return 0, fmt.Errorf("check the queue is current: %w", err)
	}
	if fresh.ResourceVersion != run.base.ResourceVersion {
		return time.Second, nil // the cache catches up; the receiver's write queues a reconcile too
	}
	key := client.ObjectKeyFromObject(oac)
	var held time.Duration // until the first held target may be tried
	var wg sync.WaitGroup
	results := make(chan delivery, len(oac.Status.Notifications))
	for i := range oac.Status.Notifications {
		ns := &oac.Status.Notifications[i]
		target := oac.Spec.Notify[i] // planNotifications keeps the two in the same order
		if len(ns.Pending) == 0 {
			continue
		}
		n, config, err := r.notifier(ctx, oac, target, run.api, run.admin, run.credentials)
		if ns.BlockedConfig != "" && (ns.BlockedConfig == config || err != nil && !notify.IsPermanent(err)) {
			continue // refused for good; waits for a change of spec or Secret
		}
		if wait := r.holds.wait(key, ns.Name, config, run.now); wait > 0 {
			if held == 0 || wait < held {
				held = wait
			}
			continue // failed lately; waits out its backoff
		}
		if err != nil {
			results <- delivery{index: i, err: err, config: config}
			continue
		}
		msgs := make([]notify.Message, len(ns.Pending))
		for j, p := range ns.Pending {
			msgs[j] = message(oac, p)
		}
		name := ns.Name
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, r.notifyOptions().Budget)
			defer cancel()
			d := delivery{index: i, config: config}
			for _, m := range msgs {
				if d.err = n.Send(ctx, m); d.err != nil {
					d.err = fmt.Errorf("%s: %w", name, d.err)
					break
				}
				d.sent = append(d.sent, m.ID)
			}
			results <- d
		}()
	}
	wg.Wait()
	close(results)

	var done []delivery
	for d := range results {
		d.name = oac.Status.Notifications[d.index].Name
		done = append(done, d)
	}
	if len(done) == 0 {
		return held, nil
	}
	applyDeliveries(oac, done, run.now)
	retry, end := held, r.now()
	for _, d := range done {
		// Events at once: the deliveries happened whatever becomes of this reconcile.
		ns := oac.Status.Notifications[d.index]
		typ := string(oac.Spec.Notify[d.index].Type)
		r.Metrics.notified(typ, "sent", len(d.sent))
		for _, id := range d.sent {
			r.eventNow(oac, normal, chatv1alpha1.NotificationSentEvent, "Notify "+ns.Name+" "+id, "%s accepted %s", ns.Name, id)
		}
		switch {
		case d.err == nil:
			r.holds.lift(key, ns.Name)
		case notify.IsPermanent(d.err):
			r.holds.lift(key, ns.Name) // blockedConfig holds it now
			r.Metrics.notified(typ, "refused", 1)
			r.eventNow(oac, warning, chatv1alpha1.NotificationFailedEvent, "Notify "+ns.Name, "%s refused the message for good; nothing more is sent to it until its spec or Secret changes: %v", ns.Name, d.err)
		default:
			r.Metrics.notified(typ, "failed", 1)
			r.eventNow(oac, warning, chatv1alpha1.NotificationFailedEvent, "Notify "+ns.Name, "%s: delivery failed %d times in a row; trying again: %v", ns.Name, ns.Failures, d.err)
			wait := min(time.Duration(1)<<min(ns.Failures, 9)*time.Second, 5*time.Minute)
			r.holds.hold(key, ns.Name, d.config, end.Add(wait))
			if retry == 0 || wait < retry {
				retry = wait
			}
		}
	}
	return retry, r.storeDeliveries(ctx, run, done)
}

// notifyHolds are the targets whose last delivery failed in a way that passes, each
// with when it may be tried again. Every reconcile delivers (a reading, a callback, a
// recheck), so without them a target that is down would be tried at each, and hold a
// worker for up to the Budget each time, rather than after its backoff. In memory: a
// new leader tries each target once, then backs off by status' failure count.
type notifyHolds struct {
	mu sync.Mutex
	m  map[notifyHoldKey]notifyHold
}

type notifyHoldKey struct {
	resource types.NamespacedName
	target   string
}

type notifyHold struct {
	until  time.Time
	config string // a change of the target's spec or Secret lifts the hold
}

// wait is how long the target has still to wait; 0 if it may be tried now.
func (h *notifyHolds) wait(resource types.NamespacedName, target, config string, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	hold, ok := h.m[notifyHoldKey{resource, target}]
	if !ok || hold.config != config {
		return 0
	}
	return max(hold.until.Sub(now), 0)
}

func (h *notifyHolds) hold(resource types.NamespacedName, target, config string, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[notifyHoldKey]notifyHold{}
	}
	h.m[notifyHoldKey{resource, target}] = notifyHold{until: until, config: config}
}

func (h *notifyHolds) lift(resource types.NamespacedName, target string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, notifyHoldKey{resource, target})
}

// forget drops the holds of a resource that is gone.
func (h *notifyHolds) forget(resource types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.m {
		if k.resource == resource {
			delete(h.m, k)
		}
	}
}

// applyDeliveries records in oac's status what the targets accepted and how they
// failed. It finds targets by name and messages by ID, so that it applies as well to
// a status read afresh after a conflict.
func applyDeliveries(oac *chatv1alpha1.OfficialAccountCapacity, done []delivery, now time.Time) {
	for _, d := range done {
		i := slices.IndexFunc(oac.Status.Notifications, func(n chatv1alpha1.NotificationStatus) bool { return n.Name == d.name })
		if i < 0 {
			continue
		}
		ns := &oac.Status.Notifications[i]
		if len(d.sent) > 0 {
			ns.Pending = slices.DeleteFunc(ns.Pending, func(p chatv1alpha1.PendingNotification) bool { return slices.Contains(d.sent, p.ID) })
			ns.LastNotifiedEpisode, ns.LastSentTime = d.sent[len(d.sent)-1], &metav1.Time{Time: now}
		}
		switch {
		case d.err == nil:
			ns.Failures, ns.LastError, ns.BlockedConfig = 0, "", ""
		case notify.IsPermanent(d.err):
			ns.Failures, ns.LastError, ns.BlockedConfig = ns.Failures+1, utf8cut.Cut(d.err.Error(), 1024), d.config
		default: // a passing failure does not lift a block
			ns.Failures, ns.LastError = ns.Failures+1, utf8cut.Cut(d.err.Error(), 1024)
		}
	}
}

// storeDeliveries writes the delivery outcome now. On a conflict (the receiver wrote
// meanwhile) it applies the outcome to a fresh read and tries again: a message
// delivered but not recorded would be sent again.
func (r *OfficialAccountCapacityReconciler) storeDeliveries(ctx context.Context, run *reconcileRun, done []delivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := r.patchStatus(ctx, run)
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh := &chatv1alpha1.OfficialAccountCapacity{}
		if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(run.oac), fresh); gerr != nil {
			return gerr
		}
		run.base = fresh.DeepCopy()
		applyDeliveries(fresh, done, run.now)
		run.oac = fresh
		return err
	})
}

// notifier builds the notifier of target, with its fingerprint. A target whose Secret
// is missing or incomplete gets a permanent *notify.Error (nothing is sent until it
// changes); a Secret that cannot be read now, a passing one.
func (r *OfficialAccountCapacityReconciler) notifier(ctx context.Context, oac *chatv1alpha1.OfficialAccountCapacity,
	target chatv1alpha1.NotifyTarget, api ChatAPI, admin, credentials string) (notify.Notifier, string, error) {
	cfg := r.notifyOptions().Template
	cfg.Type = string(target.Type)
	spec, _ := json.Marshal(target)
	version := ""
	if target.SecretRef != nil && target.Type != chatv1alpha1.NotifyChat {
		key := types.NamespacedName{Namespace: oac.Namespace, Name: target.SecretRef.Name}
		data, rv, found, err := r.secretData(ctx, key)
		version = rv
		switch {
		case err != nil:
			return nil, "", &notify.Error{Info: fmt.Sprintf("read Secret %s", key.Name), Err: err}
		case !found:
			return nil, fingerprint(spec, ""), permanent("Secret %s of notify target %s does not exist", key.Name, target.Name)
		}
		cfg.URL = string(data[chatv1alpha1.NotifyURLKey])
		if notify.Signs(cfg.Type) {
			cfg.SigningKey = string(data[chatv1alpha1.NotifySigningKey])
		}
	}
	if target.Type == chatv1alpha1.NotifyChat {
		version = credentials // a fix of the REST credentials lifts a block
		if api == nil {
			return nil, fingerprint(spec, "no-rest"), permanent("notify target %s needs the Chat REST API: credentials with %s and %s, and spec.chatAPI",
				target.Name, chatv1alpha1.CredentialAdminIdentifier, chatv1alpha1.CredentialSecretKey)
		}
		cfg.Chat, cfg.ToAccounts, cfg.From = api, target.ToAccounts, admin
		cfg.MaxAttempts = 1 // the REST client retries each message itself
	}
	n, err := notify.New(cfg)
	if err != nil {
		return nil, fingerprint(spec, version), permanent("notify target %s: %v", target.Name, err)
	}
	return n, fingerprint(spec, version), nil
}

func permanent(format string, args ...any) error {
	return &notify.Error{Permanent: true, Info: fmt.Sprintf(format, args...)}
}

func fingerprint(spec []byte, secretVersion string) string {
	h := sha256.Sum256(append(append(spec, 0), secretVersion...))
	return hex.EncodeToString(h[:16])
}

// message turns a pending notification into what the notifiers send.
func message(oac *chatv1alpha1.OfficialAccountCapacity, p chatv1alpha1.PendingNotification) notify.Message {
	var text string
	switch p.Kind {
	case notify.KindFull:
		text = fmt.Sprintf("%s is full: %s", p.Account, p.Action)
	case notify.KindRepeat:
		text = fmt.Sprintf("%s is still full: %s", p.Account, p.Action)
	case notify.KindRecovered:
		text = fmt.Sprintf("%s has room again: %s", p.Account, p.Action)
	case notify.KindExhausted:
		text = "no account of the pool has room: " + p.Action
	case notify.KindNearlyFull:
		text = fmt.Sprintf("%s is nearly full %s", p.Account, p.Action)
	}
	return notify.Message{
		ID: p.ID, Kind: p.Kind, AppID: oac.Spec.SDKAppID, Account: p.Account,
		Resource: oac.Namespace + "/" + oac.Name, Time: p.Time.Time, Action: p.Action,
		ActiveAccount: p.ActiveAccount, Text: fmt.Sprintf("[%s/%s, app %d] %s", oac.Namespace, oac.Name, oac.Spec.SDKAppID, text),
	}
}

func (r *OfficialAccountCapacityReconciler) notifyOptions() NotifyOptions {
	o, d := r.Notify, DefaultNotifyOptions()
	if o.Budget <= 0 {
		o.Budget = d.Budget
	}
	return o
}
