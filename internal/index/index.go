// Package index holds the cache field indexes that the callback receiver and the
// controller look OfficialAccountCapacities up by. main registers them once, before
// the manager starts.
package index

import (
	"context"
	"fmt"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

const (
	// AppAccount holds "<sdkAppID>/<account>" for every account of a resource's pool:
	// those of the spec and those the operator created (status, origin ScaleOut).
	AppAccount = "chat.oacapacity.io/app-account"
	// App holds "<sdkAppID>".
	App = "chat.oacapacity.io/app"
	// Secret holds the name of every Secret a resource refers to (credentials and
	// notify targets), so that a change of a Secret reaches the resources using it.
	Secret = "chat.oacapacity.io/secret"
)

// AppKey is the App index key of an app.
func AppKey(appID int64) string { return strconv.FormatInt(appID, 10) }

// AppAccountKey is the AppAccount index key of an account of an app.
func AppAccountKey(appID int64, account string) string {
	return AppKey(appID) + "/" + account
}

// Keys returns the keys of o in the index name (AppAccount, App or Secret); nil for
// another name.
func Keys(name string, o *chatv1alpha1.OfficialAccountCapacity) []string {
	switch name {
	case AppAccount:
		return appAccountKeys(o)
	case App:
		return []string{AppKey(o.Spec.SDKAppID)}
	case Secret:
		return secretKeys(o)
	}
	return nil
}

// Setup registers the indexes on indexer (the manager's field indexer).
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	for _, name := range []string{AppAccount, App, Secret} {
		if err := indexer.IndexField(ctx, oac, name, func(o client.Object) []string {
			return Keys(name, o.(*chatv1alpha1.OfficialAccountCapacity))
		}); err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
	}
	return nil
}

func appAccountKeys(o *chatv1alpha1.OfficialAccountCapacity) []string {
	pool := o.Pool()
	keys := make([]string, len(pool))
	for i, id := range pool {
		keys[i] = AppAccountKey(o.Spec.SDKAppID, id)
	}
	return keys
}

func secretKeys(o *chatv1alpha1.OfficialAccountCapacity) []string {
	keys := []string{o.Spec.CredentialsRef.Name}
	for _, n := range o.Spec.Notify {
		if n.SecretRef != nil && n.SecretRef.Name != keys[0] {
			keys = append(keys, n.SecretRef.Name)
		}
	}
	return keys
}
