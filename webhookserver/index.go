package webhookserver

import (
	"context"
	"fmt"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// Cache field indexes, so that a callback finds its resource without a List call.
const (
	// IndexAppAccount holds "<sdkAppID>/<account>" for every account of a resource:
	// those of the spec and those the operator created (status, origin ScaleOut).
	IndexAppAccount = "chat.oacapacity.io/app-account"
	// IndexApp holds "<sdkAppID>".
	IndexApp = "chat.oacapacity.io/app"
)

func appKey(appID int64) string { return strconv.FormatInt(appID, 10) }

func appAccountKey(appID int64, account string) string {
	return appKey(appID) + "/" + account
}

// SetupIndexes registers the field indexes the server looks resources up by.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &chatv1alpha1.OfficialAccountCapacity{}, IndexAppAccount, func(o client.Object) []string {
		oac := o.(*chatv1alpha1.OfficialAccountCapacity)
		keys := make([]string, 0, len(oac.Spec.Accounts)+len(oac.Status.Accounts))
		seen := make(map[string]bool, cap(keys))
		add := func(id string) {
			if !seen[id] {
				seen[id] = true
				keys = append(keys, appAccountKey(oac.Spec.SDKAppID, id))
			}
		}
		for _, id := range oac.Spec.Accounts {
			add(id)
		}
		for _, a := range oac.Status.Accounts {
			if a.Origin == chatv1alpha1.OriginScaleOut {
				add(a.ID)
			}
		}
		return keys
	}); err != nil {
		return fmt.Errorf("index %s: %w", IndexAppAccount, err)
	}
	if err := indexer.IndexField(ctx, &chatv1alpha1.OfficialAccountCapacity{}, IndexApp, func(o client.Object) []string {
		return []string{appKey(o.(*chatv1alpha1.OfficialAccountCapacity).Spec.SDKAppID)}
	}); err != nil {
		return fmt.Errorf("index %s: %w", IndexApp, err)
	}
	return nil
}
