package webhookserver

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
)

// resourceIndex mirrors the cache's App and AppAccount indexes in maps, fed by the
// informer's events, so that finding the resources of a callback is a map read. A
// cache List with a field selector builds the selector, reflects on the list type
// and copies every match: half of the receiver's own CPU per duplicate callback.
// The objects are the cache's own, so they must only be read.
//
// The informer calls its handlers just after it updates its store, so the maps may
// lag the cache by a moment; a lookup that finds nothing here asks the cache (a
// resource just created is found), and one that finds a resource a moment old is
// what the cache itself is to the API server: the recorder reads the resource again
// before it writes.
type resourceIndex struct {
	mu     sync.RWMutex
	byKey  map[string]map[types.UID]*chatv1alpha1.OfficialAccountCapacity
	keysOf map[types.UID][]string // the keys each resource is under, to remove it by
	synced func() bool            // nil until the handler is registered
	ready  atomic.Bool            // synced returned true once: it stays so
}

var indexedNames = []string{index.AppAccount, index.App}

func mapKey(name, key string) string { return name + "\x00" + key }

// start registers the index with the informer of informers; it returns once the
// informer has synced.
func (x *resourceIndex) start(ctx context.Context, informers cache.Informers) error {
	x.mu.Lock()
	x.byKey = map[string]map[types.UID]*chatv1alpha1.OfficialAccountCapacity{}
	x.keysOf = map[types.UID][]string{}
	x.mu.Unlock()
	inf, err := informers.GetInformer(ctx, &chatv1alpha1.OfficialAccountCapacity{})
	if err != nil {
		return fmt.Errorf("informer of OfficialAccountCapacities: %w", err)
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(*chatv1alpha1.OfficialAccountCapacity); ok {
				x.update(nil, o)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*chatv1alpha1.OfficialAccountCapacity)
			n, ok2 := newObj.(*chatv1alpha1.OfficialAccountCapacity)
			if ok1 && ok2 {
				x.update(o, n)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(*chatv1alpha1.OfficialAccountCapacity); ok {
				x.update(o, nil)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch OfficialAccountCapacities: %w", err)
	}
	x.mu.Lock()
	x.synced = reg.HasSynced
	x.mu.Unlock()
	return nil
}

// update replaces old (nil: none) with cur (nil: deleted) in the maps. A resource
// leaves the keys it was put under, whatever old says: a deletion seen only as a
// tombstone after a relist carries an object older than the one stored.
func (x *resourceIndex) update(old, cur *chatv1alpha1.OfficialAccountCapacity) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old != nil {
		x.removeLocked(old.UID)
	}
	if cur != nil {
		x.removeLocked(cur.UID)
		var keys []string
		for _, name := range indexedNames {
			for _, k := range index.Keys(name, cur) {
				keys = append(keys, mapKey(name, k))
			}
		}
		for _, k := range keys {
			m := x.byKey[k]
			if m == nil {
				m = map[types.UID]*chatv1alpha1.OfficialAccountCapacity{}
				x.byKey[k] = m
			}
			m[cur.UID] = cur
		}
		x.keysOf[cur.UID] = keys
	}
}

func (x *resourceIndex) removeLocked(uid types.UID) {
	for _, k := range x.keysOf[uid] {
		if m := x.byKey[k]; m != nil {
			delete(m, uid)
			if len(m) == 0 {
				delete(x.byKey, k)
			}
		}
	}
	delete(x.keysOf, uid)
}

// get returns the resources under key of the index name; ok is false when the index
// is not synced yet or holds none, and the cache must be asked.
func (x *resourceIndex) get(name, key string) (out []*chatv1alpha1.OfficialAccountCapacity, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.ready.Load() {
		if x.synced == nil || !x.synced() {
			return nil, false
		}
		x.ready.Store(true)
	}
	m := x.byKey[mapKey(name, key)]
	if len(m) == 0 {
		return nil, false
	}
	out = make([]*chatv1alpha1.OfficialAccountCapacity, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out, true
}
