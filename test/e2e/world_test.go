package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

const (
	admin = "administrator"
	owner = "ops-admin"
)

var nextApp atomic.Int64

// world is one test's app: a namespace, the credentials Secret "chat-app" with a
// callback token and REST credentials of its own, and the fake Chat REST server.
type world struct {
	t     *testing.T
	env   *testenv.Env
	ns    string
	appID int64
	token string // callbackToken
	key   string // secretKey
	chat  *chatapitest.Server
}

// secret makes a random secret value, registered for TestNoSecretLeaks.
func secret(kind string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s := kind + "-" + hex.EncodeToString(b)
	leaks.addSecret(s)
	return s
}

func newWorld(t *testing.T, e *testenv.Env) *world {
	t.Helper()
	w := &world{t: t, env: e, ns: e.Namespace(t), appID: 1400500000 + nextApp.Add(1),
		token: secret("cbtoken"), key: secret("secretkey")}
	w.chat = chatapitest.NewServer(t, w.appID, admin, w.key)
	t.Cleanup(func() {
		if m := w.chat.Malformed(); len(m) > 0 {
			t.Errorf("malformed REST requests: %+v", m)
		}
	})
	// envtest has no namespace controller: a deleted namespace stays Terminating with
	// its objects, which the next test's managers (they watch the whole cluster)
	// would go on reconciling, failing to emit events there. The resources go first.
	t.Cleanup(func() {
		if err := e.Client.DeleteAllOf(context.Background(), &chatv1alpha1.OfficialAccountCapacity{}, client.InNamespace(w.ns)); err != nil {
			t.Errorf("delete the test's resources: %v", err)
		}
	})
	// Registered after the namespace, so it runs before the namespace is deleted.
	t.Cleanup(func() { w.collect() })
	w.createSecret("chat-app", map[string]string{
		chatv1alpha1.CredentialCallbackToken:   w.token,
		chatv1alpha1.CredentialAdminIdentifier: admin,
		chatv1alpha1.CredentialSecretKey:       w.key,
	})
	return w
}

func (w *world) createSecret(name string, data map[string]string) {
	w.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns}, StringData: data}
	must(w.t, w.env.Client.Create(context.Background(), s))
}

// resource creates an OfficialAccountCapacity of the app for accounts, with the
// fake as its REST API; mutate changes the spec first.
func (w *world) resource(name string, accounts []string, mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)) {
	w.t.Helper()
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{
			SDKAppID: w.appID, Accounts: accounts,
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "chat-app"},
			ChatAPI:        &chatv1alpha1.ChatAPISpec{Endpoint: w.chat.URL()},
		},
	}
	if mutate != nil {
		mutate(&oac.Spec)
	}
	must(w.t, w.env.Client.Create(context.Background(), oac))
}

// get reads a resource afresh from the API server.
func (w *world) get(name string) (*chatv1alpha1.OfficialAccountCapacity, error) {
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	err := w.env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: name}, oac)
	return oac, err
}

// wait polls the resource until check passes.
func (w *world) wait(name string, timeout time.Duration, check func(*chatv1alpha1.OfficialAccountCapacity) error) *chatv1alpha1.OfficialAccountCapacity {
	w.t.Helper()
	var oac *chatv1alpha1.OfficialAccountCapacity
	testenv.Eventually(w.t, timeout, func() error {
		var err error
		if oac, err = w.get(name); err != nil {
			return err
		}
		if err := check(oac); err != nil {
			return fmt.Errorf("%s/%s: %w\nstatus: %s", w.ns, name, err, statusJSON(oac))
		}
		return nil
	})
	return oac
}

func statusJSON(oac *chatv1alpha1.OfficialAccountCapacity) string {
	b, _ := json.MarshalIndent(oac.Status, "", "  ")
	return string(b)
}

// account is the status of one account, or nil.
func account(oac *chatv1alpha1.OfficialAccountCapacity, id string) *chatv1alpha1.AccountStatus {
	i := slices.IndexFunc(oac.Status.Accounts, func(a chatv1alpha1.AccountStatus) bool { return a.ID == id })
	if i < 0 {
		return nil
	}
	return &oac.Status.Accounts[i]
}

// notification is the status of one notify target, or nil.
func notification(oac *chatv1alpha1.OfficialAccountCapacity, name string) *chatv1alpha1.NotificationStatus {
	i := slices.IndexFunc(oac.Status.Notifications, func(n chatv1alpha1.NotificationStatus) bool { return n.Name == name })
	if i < 0 {
		return nil
	}
	return &oac.Status.Notifications[i]
}

// condition is the condition of type typ, or nil.
func condition(oac *chatv1alpha1.OfficialAccountCapacity, typ string) *metav1.Condition {
	for i := range oac.Status.Conditions {
		if oac.Status.Conditions[i].Type == typ {
			return &oac.Status.Conditions[i]
		}
	}
	return nil
}

// events lists the Events of the namespace: reason and note, both APIs.
func (w *world) events() []string {
	ctx := context.Background()
	var out []string
	var ev eventsv1.EventList
	if err := w.env.Client.List(ctx, &ev, client.InNamespace(w.ns)); err == nil {
		for _, e := range ev.Items {
			out = append(out, e.Type+" "+e.Reason+" "+e.Action+": "+e.Note)
		}
	}
	var core corev1.EventList
	if err := w.env.Client.List(ctx, &core, client.InNamespace(w.ns)); err == nil {
		for _, e := range core.Items {
			if e.ReportingController == "" && e.Source.Component == "" && e.Action == "" {
				continue
			}
			out = append(out, e.Type+" "+e.Reason+" "+e.Action+": "+e.Message)
		}
	}
	return out
}

// collect hands the namespace's Events and every resource's status to
// TestNoSecretLeaks.
func (w *world) collect() {
	ctx := context.Background()
	for _, e := range w.events() {
		leaks.addText("event in "+w.ns, e)
	}
	var list chatv1alpha1.OfficialAccountCapacityList
	if err := w.env.Client.List(ctx, &list, client.InNamespace(w.ns)); err != nil {
		w.t.Errorf("collect statuses for the leak check: %v", err)
		return
	}
	for i := range list.Items {
		leaks.addText("status of "+w.ns+"/"+list.Items[i].Name, statusJSON(&list.Items[i]))
	}
}

// requestedAt sets the requested-at annotation, to ask for a recheck now.
func (w *world) requestedAt(name string) {
	w.t.Helper()
	oac, err := w.get(name)
	must(w.t, err)
	patch := client.MergeFrom(oac.DeepCopy())
	if oac.Annotations == nil {
		oac.Annotations = map[string]string{}
	}
	oac.Annotations[chatv1alpha1.RequestedAtAnnotation] = fmt.Sprint(time.Now().UnixNano())
	must(w.t, w.env.Client.Patch(context.Background(), oac, patch))
}
