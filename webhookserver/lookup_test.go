package webhookserver

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
)

func indexed(uid string, app int64, accounts ...string) *chatv1alpha1.OfficialAccountCapacity {
	return &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: "ns", UID: types.UID(uid)},
		Spec:       chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: app, Accounts: accounts},
	}
}

func names(os []*chatv1alpha1.OfficialAccountCapacity) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

func TestResourceIndex(t *testing.T) {
	var x resourceIndex
	x.byKey = map[string]map[types.UID]*chatv1alpha1.OfficialAccountCapacity{}
	x.keysOf = map[types.UID][]string{}
	a := indexed("a", 1, "@TOA#_x", "@TOA#_y")
	b := indexed("b", 1, "@TOA#_z")
	x.update(nil, a)
	x.update(nil, b)
	if _, ok := x.get(index.App, index.AppKey(1)); ok {
		t.Fatal("answered before the informer synced")
	}
	x.synced = func() bool { return true }

	check := func(name, key string, want ...string) {
		t.Helper()
		got, ok := x.get(name, key)
		if len(want) == 0 {
			if ok {
				t.Errorf("%s %s: %v, want a miss", name, key, names(got))
			}
			return
		}
		if !ok || !slices.Equal(names(got), want) {
			t.Errorf("%s %s: %v (%v), want %v", name, key, names(got), ok, want)
		}
	}
	check(index.App, index.AppKey(1), "a", "b")
	check(index.AppAccount, index.AppAccountKey(1, "@TOA#_x"), "a")
	check(index.AppAccount, index.AppAccountKey(1, "@TOA#_z"), "b")
	check(index.AppAccount, index.AppAccountKey(2, "@TOA#_x"))

	// An update that moves an account from a to b, and a to another app.
	a2 := indexed("a", 2, "@TOA#_y")
	b2 := indexed("b", 1, "@TOA#_z", "@TOA#_x")
	x.update(a, a2)
	x.update(b, b2)
	check(index.App, index.AppKey(1), "b")
	check(index.App, index.AppKey(2), "a")
	check(index.AppAccount, index.AppAccountKey(1, "@TOA#_x"), "b")
	check(index.AppAccount, index.AppAccountKey(1, "@TOA#_y"))
	check(index.AppAccount, index.AppAccountKey(2, "@TOA#_y"), "a")
	if got, _ := x.get(index.AppAccount, index.AppAccountKey(1, "@TOA#_x")); got[0] != b2 {
		t.Error("the index holds an old object after an update")
	}

	x.update(b2, nil)
	check(index.App, index.AppKey(1))
	check(index.AppAccount, index.AppAccountKey(1, "@TOA#_z"))
	// A tombstone older than what was stored: a2 is removed from a2's keys.
	x.update(a, nil)
	check(index.App, index.AppKey(2))
	check(index.AppAccount, index.AppAccountKey(2, "@TOA#_y"))
	if len(x.byKey) != 0 || len(x.keysOf) != 0 {
		t.Errorf("keys left after every resource was deleted: %v %v", x.byKey, x.keysOf)
	}
}
