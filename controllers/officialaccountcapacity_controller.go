// Package controllers holds the reconciler of OfficialAccountCapacity: it acts on the
// full accounts the callback receiver records (raise the limit, fail over, scale out),
// clears them when room is back, and publishes the account new subscribers should use.
// It runs on the leader only and makes every decision; the REST client and the
// notifiers are libraries it calls.
package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
)

// OfficialAccountCapacityReconciler reconciles OfficialAccountCapacity objects.
type OfficialAccountCapacityReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads Secrets (whose data is never cached) and fresh objects.
	APIReader client.Reader
	// Events records Kubernetes Events.
	Events events.EventRecorder
	// Chat hands out the REST clients, one per app.
	Chat *ChatClients
	// Notify sets how notifications are delivered; zero fields get the defaults.
	Notify NotifyOptions
	// Metrics counts actions; nil counts nothing.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReadLinger is how long a due reading waits for those of other pools of its app,
	// to share a REST call with them; default 100 ms.
	ReadLinger time.Duration

	secrets secretCache
	reads   *readings
	holds   notifyHolds
}

// Rights of the reconciler; the receiver's are in webhookserver, the shared ones in main.go.
// +kubebuilder:rbac:groups=chat.oacapacity.io,resources=officialaccountcapacities,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=chat.oacapacity.io,resources=officialaccountcapacities/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=chat.oacapacity.io,resources=officialaccountcapacities/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile fetches the resource and lets reconcile act on it; then it sums the
// outcome up in status (summarize), plans the notifications it is worth, stores both
// in one write, and only then delivers the notifications.
func (r *OfficialAccountCapacityReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	if err := r.Client.Get(ctx, req.NamespacedName, oac); err != nil {
		if apierrors.IsNotFound(err) {
			r.gone(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !oac.DeletionTimestamp.IsZero() {
		// Nothing to undo: the ConfigMap is garbage-collected, created accounts stay.
		r.gone(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	run := &reconcileRun{oac: oac, base: oac.DeepCopy(), now: r.now()}
	r.reads.overlay(run.oac)
	err := r.reconcile(ctx, run)
	failed := errors.Join(run.restErr, err)
	run.eventsOnStore = append(run.eventsOnStore, summarize(run.oac, run.findings, run.decided, failed)...)
	if run.decided {
		// Queued with the change that causes them, in the same write: whatever fails
		// next, each message is decided once.
		planNotifications(run.oac, run.now, run.actions, run.raised, run.early)
	}
	if serr := r.finish(ctx, run); serr != nil {
		if apierrors.IsConflict(serr) {
			// The receiver wrote status meanwhile: start again from its write.
			return ctrl.Result{Requeue: true}, nil //nolint:staticcheck // SA1019: the rate-limited requeue, which RequeueAfter's fixed delay is not
		}
		return ctrl.Result{}, errors.Join(failed, serr)
	}
	if !run.decided || err != nil {
		return ctrl.Result{}, failed
	}
	notifyRetry, derr := r.deliver(ctx, run)
	if derr != nil {
		return ctrl.Result{}, errors.Join(run.restErr, fmt.Errorf("record notifications: %w", derr))
	}
	if run.restErr != nil {
		return ctrl.Result{}, run.restErr // the work queue's backoff retries the notifications too
	}
	return next(run, notifyRetry), nil
}

// next is when to reconcile again: at the next reading, notification retry or repeat,
// whichever comes first; while Ready is False (refused credentials, a conflict), at the
// recheck interval, so that it is tried again but not in a loop.
func next(run *reconcileRun, notifyRetry time.Duration) ctrl.Result {
	oac := run.oac // deliver may have read it afresh
	var res ctrl.Result
	switch {
	case run.api == nil, run.asked:
	case !meta.IsStatusConditionTrue(oac.Status.Conditions, chatv1alpha1.ConditionReady):
		res.RequeueAfter = recheckInterval(oac)
	default:
		res.RequeueAfter = max(nextReading(oac, run.now).Sub(run.now), time.Second)
	}
	for _, d := range []time.Duration{notifyRetry, nextRepeat(oac, run.now)} {
		if d > 0 && (res.RequeueAfter == 0 || d < res.RequeueAfter) {
			res.RequeueAfter = d
		}
	}
	return res
}

// reconcileRun is the state of one reconcile.
type reconcileRun struct {
	oac  *chatv1alpha1.OfficialAccountCapacity
	base *chatv1alpha1.OfficialAccountCapacity // as last stored; status patches are made against it
	now  time.Time

	findings findings // what is wrong, recorded where it is found; summarize makes Ready of it
	decided  bool     // the active account was decided: not suspended, no conflict
	restErr  error    // a failure of the Chat REST API or of reading its credentials; retried with backoff
	answered *answer  // a batched reading applied in this run, forgotten once stored
	asked    bool     // a batched reading is asked for: its answer reconciles again

	api         ChatAPI // nil without REST credentials
	admin       string  // the REST admin identifier, when there is a client
	credentials string  // resource version of the credentials Secret

	eventsOnStore []event // emitted once status is stored
	clearFull     string  // clear-full annotation value applied, removed once status is stored

	actions map[string]string // what this reconcile did per account, for the notifications
	raised  []episodeStart    // episodes a raise ended as soon as they were seen
	early   []episodeStart    // nearly-full episodes that began (spec.headroom); action: how full
}

// did records what was done about an account, for its notification.
func (run *reconcileRun) did(account, format string, args ...any) {
	if run.actions == nil {
		run.actions = map[string]string{}
	}
	run.actions[account] = fmt.Sprintf(format, args...)
}

// reconcile acts on the pool: it decides the active account, makes the REST calls the
// policy asks for and publishes the result. A REST failure (run.restErr) does not stop
// what needs no REST call; the error it returns does, and nothing is delivered then.
func (r *OfficialAccountCapacityReconciler) reconcile(ctx context.Context, run *reconcileRun) error {
	oac := run.oac
	syncPool(oac)
	if oac.Spec.Suspend {
		return nil
	}
	if msg, err := r.conflict(ctx, oac); err != nil {
		return err
	} else if msg != "" {
		run.findings.conflict = msg
		return nil // the other resource's change or deletion requeues this one
	}
	// Not a reason to stop acting on the pool: the callbacks go to the older
	// resource's backend meanwhile.
	msg, err := r.forwardConflict(ctx, oac)
	if err != nil {
		return err
	}
	run.findings.forwardConflict = msg
	if v := oac.Annotations[chatv1alpha1.ClearFullAnnotation]; v != "" {
		cleared, unknown := clearByHand(oac, v)
		for _, id := range cleared {
			run.did(id, "cleared by hand (annotation %s)", chatv1alpha1.ClearFullAnnotation)
			run.eventOnStore(normal, chatv1alpha1.AccountRecoveredEvent, "Recover "+id, "%s cleared by the %s annotation", id, chatv1alpha1.ClearFullAnnotation)
			r.Metrics.action(actionRecover, nil)
		}
		if len(unknown) > 0 {
			run.eventOnStore(warning, chatv1alpha1.AccountRecoveredEvent, "Recover "+strings.Join(unknown, ","), "%s names accounts outside the pool: %s", chatv1alpha1.ClearFullAnnotation, strings.Join(unknown, ", "))
		}
		run.clearFull = v
	}

	run.api, run.restErr = r.restClient(ctx, run)
	if run.api != nil {
		// Each phase only when the one before succeeded.
		for _, phase := range []func(context.Context, *reconcileRun) error{r.readPool, r.finishCreations, r.raiseLimits} {
			if run.restErr = phase(ctx, run); run.restErr != nil {
				break
			}
		}
	}
	if !roomLeft(oac) && run.api != nil && run.restErr == nil {
		run.restErr = r.scaleOut(ctx, run)
	}
	active := activeAccount(oac)
	if active != oac.Status.ActiveAccount && oac.Status.ActiveAccount != "" {
		r.Metrics.action(actionFailover, nil)
	}
	run.eventsOnStore = append(run.eventsOnStore, setActive(oac, active)...)
	for i, e := range run.early {
		// What was done ahead of the limit, now that it is decided.
		run.early[i].action = e.action + ": " + fullAction(oac, e.account, run.actions[e.account])
		run.eventOnStore(warning, chatv1alpha1.HeadroomLowEvent, "Headroom "+e.account, "%s is nearly full %s", e.account, run.early[i].action)
	}
	run.decided = true
	return r.publish(ctx, run)
}

// readPool folds the pool's subscriber counts into status: a batched reading that
// arrived, and, when a reading is due, a new one. A decision that waits for it is
// read at once; a recheck is asked of the batched readings, and its answer reconciles
// the pool again.
func (r *OfficialAccountCapacityReconciler) readPool(ctx context.Context, run *reconcileRun) error {
	oac := run.oac
	key := client.ObjectKeyFromObject(oac)
	if ans, ok := r.reads.answer(key); ok {
		run.answered = &ans
		if ans.err != nil {
			return r.restFailed(run, "read the subscriber counts", ans.err)
		}
		r.applyReading(run, ans.infos, ans.at)
	}
	switch {
	case readingUrgent(oac):
		infos, err := run.api.GetOfficialAccountInfo(ctx, readIDs(oac))
		if err != nil {
			return r.restFailed(run, "read the subscriber counts", err)
		}
		r.applyReading(run, infos, run.now)
	case readingDue(oac, run.now):
		r.reads.ask(key, run.api, readIDs(oac))
		run.asked = true
	}
	return nil
}

// applyReading folds readings taken at `at` into status, with the events of what they
// changed.
func (r *OfficialAccountCapacityReconciler) applyReading(run *reconcileRun, infos []chatapi.AccountInfo, at time.Time) {
	oac := run.oac
	pool := oac.Pool()
	for _, info := range infos {
		if info.Err != nil && slices.Contains(pool, info.Account) {
			r.eventNow(oac, warning, chatv1alpha1.ChatAPIFailedEvent, "Read "+info.Account, "cannot read %s: %v", info.Account, info.Err)
		}
	}
	obs := observe(oac, infos, at)
	for _, id := range obs.filled {
		run.eventOnStore(warning, chatv1alpha1.CapacityExhaustedEvent, "Recheck "+id, "%s is at its limit of %d subscribers (found by the recheck; its callback did not arrive)", id, oac.Status.Account(id).MaxSubscriberNum)
	}
	for _, id := range obs.recovered {
		a := oac.Status.Account(id)
		run.eventOnStore(normal, chatv1alpha1.AccountRecoveredEvent, "Recover "+id, "%s has room again: %d of %d subscribers", id, a.SubscriberNum, a.MaxSubscriberNum)
		r.Metrics.action(actionRecover, nil)
	}
	for _, id := range obs.adopted {
		run.eventOnStore(normal, chatv1alpha1.AccountCreatedEvent, "Adopt "+id, "%s, created by this resource before, found again and added to the pool", id)
	}
	for _, id := range obs.nearlyFull {
		a := oac.Status.Account(id)
		run.early = append(run.early, episodeStart{account: id, since: *a.NearlyFullSince, action: nearlyFullNote(oac, a, at)})
	}
	oac.Status.LastRecheckTime = &metav1.Time{Time: at}
	oac.Status.LastHandledRequestedAt = oac.Annotations[chatv1alpha1.RequestedAtAnnotation]
}

// finishCreations finishes the scale-out creations whose intent is stored: a stop
// between the intent and the create call left them under way.
func (r *OfficialAccountCapacityReconciler) finishCreations(ctx context.Context, run *reconcileRun) error {
	for _, a := range slices.Clone(run.oac.Status.Accounts) {
		if a.Creating {
			if err := r.create(ctx, run, a.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// raiseLimits raises the limits raiseLimit allows, each intent stored before its call.
func (r *OfficialAccountCapacityReconciler) raiseLimits(ctx context.Context, run *reconcileRun) error {
	oac := run.oac
	for _, rs := range raises(oac) {
		a := oac.Status.Account(rs.account)
		from, since := a.MaxSubscriberNum, a.FullSince // a is not valid past a status write
		if a.RaisingTo != rs.newLimit {
			// Stored before the call: a repeat after a crash or a conflicting write
			// sets this same value, never raises again from a stale limit.
			a.RaisingTo = rs.newLimit
			if err := r.patchStatus(ctx, run); err != nil {
				return fmt.Errorf("record the intent to raise the limit of %s: %w", rs.account, err)
			}
		}
		err := run.api.SetMaxSubscriberNum(ctx, rs.account, rs.newLimit)
		r.Metrics.action(actionRaiseLimit, err)
		if err != nil {
			return r.restFailed(run, fmt.Sprintf("raise the limit of %s to %d", rs.account, rs.newLimit), err)
		}
		limitRaised(oac, rs)
		r.eventNow(oac, normal, chatv1alpha1.LimitRaisedEvent, fmt.Sprintf("RaiseLimit %s to %d", rs.account, rs.newLimit), "raised the subscriber limit of %s from %d to %d", rs.account, from, rs.newLimit)
		run.did(rs.account, "raised its limit from %d to %d", from, rs.newLimit)
		if a := oac.Status.Account(rs.account); !a.Full && since != nil {
			run.raised = append(run.raised, episodeStart{account: rs.account, since: *since, action: fullAction(oac, rs.account, run.actions[rs.account])})
		}
	}
	return nil
}

// scaleOut creates the next account when scale-out allows one. The intent is stored
// in status before the create call, so that a crash between the call and the status
// write finishes that creation on restart instead of creating a second account.
func (r *OfficialAccountCapacityReconciler) scaleOut(ctx context.Context, run *reconcileRun) error {
	oac := run.oac
	id, ok := nextScaleOut(oac)
	if !ok {
		return nil
	}
	oac.Status.Accounts = append(oac.Status.Accounts, chatv1alpha1.AccountStatus{ID: id, Origin: chatv1alpha1.OriginScaleOut, Creating: true})
	if err := r.patchStatus(ctx, run); err != nil {
		return fmt.Errorf("record the intent to create %s: %w", id, err)
	}
	if err := r.create(ctx, run, id); err != nil {
		return err
	}
	if a := oac.Status.Account(id); a != nil && !a.Creating {
		for _, acc := range oac.Pool() {
			if b := oac.Status.Account(acc); b != nil && (b.Full || b.NearlyFull) && run.actions[acc] == "" {
				run.did(acc, "created account %s", id)
			}
		}
	}
	return nil
}

// create makes the scale-out account id, whose intent is in status. An account that
// already exists is adopted only when it has the configured owner.
func (r *OfficialAccountCapacityReconciler) create(ctx context.Context, run *reconcileRun, id string) error {
	oac := run.oac
	so := scaleOutSpec(oac)
	if so == nil { // scale-out was turned off meanwhile: forget the intent
		oac.Status.Accounts = slices.DeleteFunc(oac.Status.Accounts, func(a chatv1alpha1.AccountStatus) bool { return a.ID == id })
		return nil
	}
	limit := cmp.Or(so.MaxSubscriberNum, defaultMaxSubscriberNum)
	name := scaleOutName(so, scaleOutIndex(oac, id))
	res, err := run.api.CreateOfficialAccount(ctx, chatapi.CreateAccountRequest{
		Owner: so.OwnerAccount, Name: name, UserID: id, MaxSubscriberNum: limit,
	})
	if err == nil && res.AlreadyExisted {
		err = r.adopt(ctx, run, id, so, &limit)
	}
	r.Metrics.action(actionCreate, err)
	if err != nil {
		if errors.Is(err, errForeignAccount) {
			return nil
		}
		return r.restFailed(run, "create account "+id, err)
	}
	a := oac.Status.Account(id)
	a.Creating, a.MaxSubscriberNum, a.ReadTime = false, limit, &metav1.MicroTime{Time: run.now}
	if a.LimitSource != chatv1alpha1.LimitFromAPI { // adopt read it from the API
		a.LimitSource = chatv1alpha1.LimitFromOperator
	}
	if res.Created {
		a.SubscriberNum = 0
		r.eventNow(oac, normal, chatv1alpha1.AccountCreatedEvent, "Create "+id, "created %s (%q, owner %s, limit %d)", id, name, so.OwnerAccount, limit)
	} else {
		r.eventNow(oac, normal, chatv1alpha1.AccountCreatedEvent, "Adopt "+id, "adopted %s, which an earlier attempt had created (owner %s)", id, so.OwnerAccount)
	}
	return nil
}

var errForeignAccount = errors.New("account exists with another owner")

// adopt checks that the existing account id is ours (same owner) and reads it into
// status; limit is set to its known limit.
func (r *OfficialAccountCapacityReconciler) adopt(ctx context.Context, run *reconcileRun, id string, so *chatv1alpha1.ScaleOutSpec, limit *int64) error {
	infos, err := run.api.GetOfficialAccountInfo(ctx, []string{id})
	if err != nil {
		return err
	}
	if len(infos) != 1 {
		return fmt.Errorf("read existing account %s: %d answers for one account", id, len(infos))
	}
	if infos[0].Err != nil {
		return fmt.Errorf("read existing account %s: %w", id, infos[0].Err)
	}
	info := infos[0]
	if info.Owner != so.OwnerAccount {
		run.oac.Status.Accounts = slices.DeleteFunc(run.oac.Status.Accounts, func(a chatv1alpha1.AccountStatus) bool { return a.ID == id })
		run.findings.conflict = fmt.Sprintf("account %s already exists with owner %q, not %q: it is not adopted and no account is created", id, info.Owner, so.OwnerAccount)
		r.eventNow(run.oac, warning, chatv1alpha1.ChatAPIFailedEvent, "Adopt "+id, "account %s already exists with owner %q, not %q; not adopted", id, info.Owner, so.OwnerAccount)
		return errForeignAccount
	}
	a := run.oac.Status.Account(id)
	if info.MaxSubscriberNum != nil {
		*limit, a.LimitSource = *info.MaxSubscriberNum, chatv1alpha1.LimitFromAPI
	}
	a.SubscriberNum = info.SubscriberNum
	return nil
}

// defaultMaxSubscriberNum is the Chat backend's limit of a new account.
const defaultMaxSubscriberNum = 100000

// restFailed records a REST failure for Ready and emits it as a Warning event.
// Refused credentials are a configuration error (no error returned, no retry loop);
// anything else is returned so that the work queue retries with backoff.
func (r *OfficialAccountCapacityReconciler) restFailed(run *reconcileRun, what string, err error) error {
	r.eventNow(run.oac, warning, chatv1alpha1.ChatAPIFailedEvent, what, "cannot %s: %v", what, err)
	if chatapi.IsAuthError(err) {
		run.findings.rest = &finding{chatv1alpha1.InvalidCredentialsReason,
			fmt.Sprintf("the Chat REST API refused the credentials of Secret %s: %v", run.oac.Spec.CredentialsRef.Name, err)}
		return nil
	}
	run.findings.rest = &finding{chatv1alpha1.ChatAPIUnavailableReason, fmt.Sprintf("cannot %s: %v", what, err)}
	return fmt.Errorf("%s: %w", what, err)
}

// conflict returns why oac must not act: an account of its pool is also in the pool
// of an older resource of the same app. It looks up only the pool's accounts, so its
// cost does not grow with the number of resources of the app.
func (r *OfficialAccountCapacityReconciler) conflict(ctx context.Context, oac *chatv1alpha1.OfficialAccountCapacity) (string, error) {
	for _, id := range oac.Pool() {
		var list chatv1alpha1.OfficialAccountCapacityList
		// Read-only: no copies of the cache's objects.
		if err := r.Client.List(ctx, &list, client.MatchingFields{index.AppAccount: index.AppAccountKey(oac.Spec.SDKAppID, id)}, client.UnsafeDisableDeepCopy); err != nil {
			return "", fmt.Errorf("look up the resources of account %s: %w", id, err)
		}
		for i := range list.Items {
			other := &list.Items[i]
			if other.UID != oac.UID && other.DeletionTimestamp.IsZero() && older(other, oac) {
				return fmt.Sprintf("account %s is managed by %s/%s, an older resource of app %d; remove it from one of them",
					id, other.Namespace, other.Name, oac.Spec.SDKAppID), nil
			}
		}
	}
	return "", nil
}

// forwardConflict returns why oac's spec.callbackForward does not stand: the oldest
// resource of the app that sets one, of those whose credentials Secret holds the
// same callbackToken, sets another. Only they can sign the app's callbacks, and the
// receiver relays a callback to the oldest resource whose token verifies it; one in
// another namespace that names the app without its token neither stands nor
// conflicts. A resource that leaves the field unset does not conflict.
func (r *OfficialAccountCapacityReconciler) forwardConflict(ctx context.Context, oac *chatv1alpha1.OfficialAccountCapacity) (string, error) {
	if oac.Spec.CallbackForward == nil {
		return "", nil
	}
	var list chatv1alpha1.OfficialAccountCapacityList
	if err := r.Client.List(ctx, &list, client.MatchingFields{index.App: index.AppKey(oac.Spec.SDKAppID)}, client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("look up the resources of app %d: %w", oac.Spec.SDKAppID, err)
	}
	var olders []*chatv1alpha1.OfficialAccountCapacity
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != oac.UID && o.DeletionTimestamp.IsZero() && o.Spec.CallbackForward != nil && older(o, oac) {
			olders = append(olders, o)
		}
	}
	if len(olders) == 0 {
		return "", nil
	}
	slices.SortFunc(olders, func(a, b *chatv1alpha1.OfficialAccountCapacity) int {
		if older(a, b) {
			return -1
		}
		return 1
	})
	own, err := r.callbackToken(ctx, oac)
	if err != nil {
		return "", err
	}
	for _, o := range olders {
		tok, err := r.callbackToken(ctx, o)
		if err != nil {
			return "", err
		}
		if tok != own {
			continue
		}
		if o.Spec.CallbackForward.Same(oac.Spec.CallbackForward) {
			return "", nil
		}
		return fmt.Sprintf("%s/%s, an older resource of app %d, relays its callbacks to %s; callbacks go there, not to %s: set the same spec.callbackForward, or remove it from one of them",
			o.Namespace, o.Name, oac.Spec.SDKAppID, o.Spec.CallbackForward.URL, oac.Spec.CallbackForward.URL), nil
	}
	return "", nil
}

// callbackToken is the callbackToken of o's credentials Secret; "" when it or the
// Secret is missing.
func (r *OfficialAccountCapacityReconciler) callbackToken(ctx context.Context, o *chatv1alpha1.OfficialAccountCapacity) (string, error) {
	data, _, _, err := r.secretData(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.CredentialsRef.Name})
	if err != nil {
		return "", err
	}
	return string(data[chatv1alpha1.CredentialCallbackToken]), nil
}

// older orders resources by creation, then by namespace and name.
func older(a, b *chatv1alpha1.OfficialAccountCapacity) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// finish stores status when it changed, then emits the events of the stored change
// and removes an applied clear-full annotation. What was done must be recorded even
// when the manager is stopping, so it outlives the reconcile's context.
func (r *OfficialAccountCapacityReconciler) finish(ctx context.Context, run *reconcileRun) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.patchStatus(ctx, run); err != nil {
		return err
	}
	// Stored, but for readings that changed nothing: those are remembered.
	r.reads.remember(run.oac)
	if run.answered != nil {
		r.reads.applied(client.ObjectKeyFromObject(run.oac), run.answered.at)
	}
	r.Metrics.stored(run.oac)
	for _, e := range run.eventsOnStore {
		r.eventNow(run.oac, e.eventType, e.reason, e.action, "%s", e.message)
	}
	if run.clearFull != "" {
		return r.removeClearFull(ctx, run.oac, run.clearFull)
	}
	return nil
}

// removeClearFull removes the applied clear-full annotation. A conflict (the receiver
// wrote status meanwhile) is retried here against a fresh read: were the reconcile
// requeued instead, the annotation would clear the account again, even a new episode.
func (r *OfficialAccountCapacityReconciler) removeClearFull(ctx context.Context, oac *chatv1alpha1.OfficialAccountCapacity, applied string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if oac.Annotations[chatv1alpha1.ClearFullAnnotation] != applied {
			return nil // changed by the user meanwhile: a new request
		}
		orig := oac.DeepCopy()
		delete(oac.Annotations, chatv1alpha1.ClearFullAnnotation)
		err := r.Client.Patch(ctx, oac, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(oac), oac); gerr != nil {
				return gerr
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove annotation %s: %w", chatv1alpha1.ClearFullAnnotation, err)
	}
	return nil
}

// patchStatus stores status when it differs from run.base in more than readings not
// worth a write (quietReadings), with the resource version as a precondition: the
// receiver writes the same status, and its events must never be overwritten.
func (r *OfficialAccountCapacityReconciler) patchStatus(ctx context.Context, run *reconcileRun) error {
	out := quietReadings(run.base, run.oac, run.now)
	if equality.Semantic.DeepEqual(run.base.Status, out.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, out, client.MergeFromWithOptions(run.base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	run.oac.ResourceVersion = out.ResourceVersion
	run.base = out.DeepCopy()
	return nil
}

// gone drops what is kept of a resource that is deleted.
func (r *OfficialAccountCapacityReconciler) gone(key types.NamespacedName) {
	r.Metrics.gone(key)
	r.reads.forget(key)
	r.holds.forget(key)
}

func (r *OfficialAccountCapacityReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager registers the controller with opts; zero fields get the defaults
// below. The manager's cache must have the indexes of index.Setup and select
// ConfigMaps as CacheByObject says.
func (r *OfficialAccountCapacityReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	if opts.MaxConcurrentReconciles == 0 {
		opts.MaxConcurrentReconciles = 4
	}
	if opts.RateLimiter == nil {
		// Failing REST calls are retried from 1 s up to 5 min apart, per resource.
		opts.RateLimiter = workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute)
	}
	r.reads = newReadings(cmp.Or(r.ReadLinger, 100*time.Millisecond), r.now)
	if err := mgr.Add(r.reads); err != nil {
		return fmt.Errorf("add the batched readings: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&chatv1alpha1.OfficialAccountCapacity{}, builder.WithPredicates(triggers())).
		Owns(&corev1.ConfigMap{}).
		// Metadata only: the controller is told of a change, and reads the data itself,
		// so no Secret data of the cluster is cached.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersOfSecret)).
		// A resource that yields an account to an older one must hear when that one
		// changes or goes.
		Watches(&chatv1alpha1.OfficialAccountCapacity{}, handler.EnqueueRequestsFromMapFunc(r.sharingAccounts),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The pools whose batched reading arrived.
		WatchesRawSource(r.reads.source()).
		WithOptions(opts).
		Complete(r)
}

// triggers passes the changes the controller acts on: spec, the annotations it
// reads, and the facts the receiver records. Its own writes of conditions and
// readings do not trigger it again.
func triggers() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e ctrlevent.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*chatv1alpha1.OfficialAccountCapacity)
			n, ok2 := e.ObjectNew.(*chatv1alpha1.OfficialAccountCapacity)
			if !ok1 || !ok2 {
				return true
			}
			return o.Generation != n.Generation ||
				o.Annotations[chatv1alpha1.RequestedAtAnnotation] != n.Annotations[chatv1alpha1.RequestedAtAnnotation] ||
				o.Annotations[chatv1alpha1.ClearFullAnnotation] != n.Annotations[chatv1alpha1.ClearFullAnnotation] ||
				!slices.Equal(facts(o), facts(n))
		},
	}
}

// fact is what the receiver records of an account, or a reading found.
type fact struct {
	id            string
	full          bool
	lastEventTime int64
}

// facts are the accounts' recorded facts. Entries that record nothing (a creation under
// way, an account with room) are left out: the controller's own writes of them must not
// trigger it again, or a scale-out that cannot proceed would loop.
func facts(o *chatv1alpha1.OfficialAccountCapacity) []fact {
	var out []fact
	for _, a := range o.Status.Accounts {
		if a.Full || a.LastEventTime != 0 {
			out = append(out, fact{a.ID, a.Full, a.LastEventTime})
		}
	}
	return out
}

// usersOfSecret maps a Secret to the resources of its namespace that refer to it.
func (r *OfficialAccountCapacityReconciler) usersOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list chatv1alpha1.OfficialAccountCapacityList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index.Secret: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list the users of a Secret", "secret", client.ObjectKeyFromObject(o))
		return nil
	}
	return requests(list.Items)
}

// sharingAccounts maps a resource to the other resources of its app that list one of
// its accounts: the only ones whose conflict (see conflict) its change or deletion can
// settle. The map runs on the old and the new object of an update, so a resource
// that gave an account up is mapped to those that share it too. Listing the whole
// app instead made creating n resources of one app cost n² enqueues and copies.
func (r *OfficialAccountCapacityReconciler) sharingAccounts(ctx context.Context, o client.Object) []reconcile.Request {
	oac, ok := o.(*chatv1alpha1.OfficialAccountCapacity)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	seen := map[types.UID]bool{oac.UID: true}
	if oac.Spec.CallbackForward != nil {
		// Its forward may stand, or stop standing, for the app's others that set one.
		var list chatv1alpha1.OfficialAccountCapacityList
		if err := r.Client.List(ctx, &list, client.MatchingFields{index.App: index.AppKey(oac.Spec.SDKAppID)}, client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "list the resources of an app", "sdkAppID", oac.Spec.SDKAppID)
		}
		for i := range list.Items {
			if o := &list.Items[i]; o.Spec.CallbackForward != nil && !seen[o.UID] {
				seen[o.UID] = true
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			}
		}
	}
	for _, id := range oac.Pool() {
		var list chatv1alpha1.OfficialAccountCapacityList
		// Read-only, names only: no copies of the cache's objects.
		if err := r.Client.List(ctx, &list, client.MatchingFields{index.AppAccount: index.AppAccountKey(oac.Spec.SDKAppID, id)}, client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "list the resources of an account", "sdkAppID", oac.Spec.SDKAppID, "account", id)
			continue
		}
		for i := range list.Items {
			if !seen[list.Items[i].UID] {
				seen[list.Items[i].UID] = true
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
	}
	return out
}

func requests(items []chatv1alpha1.OfficialAccountCapacity) []reconcile.Request {
	out := make([]reconcile.Request, len(items))
	for i := range items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])}
	}
	return out
}
