package controllers

import (
	"fmt"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/utf8cut"
)

// Kubernetes Events come in two kinds: those of a status change, queued on the run
// and emitted once the change is stored (eventOnStore), and those of an action taken
// outside status, a REST call or a delivery, emitted when it happened (eventNow).

// event is a Kubernetes Event to emit about the resource.
type event struct {
	eventType string
	reason    string
	action    string
	message   string
}

const (
	normal  = "Normal"
	warning = "Warning"
)

// eventOnStore queues an Event of a status change; finish emits it once the change
// is stored.
func (run *reconcileRun) eventOnStore(eventType, reason, action, format string, args ...any) {
	run.eventsOnStore = append(run.eventsOnStore, event{eventType, reason, action, fmt.Sprintf(format, args...)})
}

// eventNow emits an Event now: for actions, which happened whether or not status is
// stored afterwards. The action names the subject (account, target): events.k8s.io
// folds events of one reason and action into a series that keeps the first note, so
// distinct facts need distinct actions.
func (r *OfficialAccountCapacityReconciler) eventNow(oac *chatv1alpha1.OfficialAccountCapacity, eventType, reason, action, format string, args ...any) {
	r.Events.Eventf(oac, nil, eventType, reason, utf8cut.Cut(action, 128), format, args...)
}
