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

// Setup registers the indexes on indexer (the manager's field indexer).
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	indexes := []struct {
		name string
		keys func(*chatv1alpha1.OfficialAccountCapacity) []string
	}{
		{AppAccount, appAccountKeys},
		{App, func(o *chatv1alpha1.OfficialAccountCapacity) []string { return []string{AppKey(o.Spec.SDKAppID)} }},
		{Secret, secretKeys},
	}
	for _, ix := range indexes {
		keys := ix.keys
		if err := indexer.IndexField(ctx, oac, ix.name, func(o client.Object) []string {
			return keys(o.(*chatv1alpha1.OfficialAccountCapacity))
		}); err != nil {
			return fmt.Errorf("index %s: %w", ix.name, err)
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
