package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// lastAppliedAnnotation is kubectl apply's copy of the whole object, as large as
// the object's spec again; neither the receiver nor the controller reads it.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// CacheTransform is the manager cache's transform of every object it holds: it drops
// what neither the receiver nor the controller reads, managedFields and kubectl's
// last-applied annotation, which are most of an object's metadata. At 10,000
// resources the cache is most of the manager's memory (docs/performance.md).
func CacheTransform() toolscache.TransformFunc {
	strip := cache.TransformStripManagedFields()
	return func(in any) (any, error) {
		in, err := strip(in)
		if err != nil {
			return in, err
		}
		if obj, err := meta.Accessor(in); err == nil {
			if a := obj.GetAnnotations(); a[lastAppliedAnnotation] != "" {
				delete(a, lastAppliedAnnotation)
				if len(a) == 0 {
					a = nil
				}
				obj.SetAnnotations(a)
			}
		}
		return in, nil
	}
}
