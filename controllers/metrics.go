package controllers

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// Actions, the "action" label of oacapacity_actions_total.
const (
	actionRaiseLimit = "raise_limit"
	actionCreate     = "create_account"
	actionFailover   = "failover"
	actionRecover    = "recover"
	actionPublish    = "publish"
)

// Metrics are the controller's Prometheus collectors. Reconcile errors are counted by
// controller-runtime (controller_runtime_reconcile_errors_total).
type Metrics struct {
	actions       *prometheus.CounterVec
	restCalls     *prometheus.CounterVec
	notifications *prometheus.CounterVec
	available     *prometheus.GaugeVec
	full          *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_actions_total",
			Help: "Actions the controller took, by action (raise_limit, create_account, failover, recover, publish) and result (success, error).",
		}, []string{"action", "result"}),
		restCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_chatapi_calls_total",
			Help: "Chat REST API calls of the controller, by command and result (success, error, auth_error, canceled); retries inside one call are not counted apart.",
		}, []string{"command", "result"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_notifications_total",
			Help: "Notification deliveries, by target type and result (sent: messages accepted; failed: a delivery that will be retried; refused: a permanent failure).",
		}, []string{"type", "result"}),
		available: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "oacapacity_capacity_available",
			Help: "Per resource, as its stored status says: 0 while no account of the pool has room (CapacityAvailable False), else 1. Set by the leader only.",
		}, []string{"namespace", "name"}),
		full: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "oacapacity_full_accounts",
			Help: "Per resource, as its stored status says: accounts of the pool that are full now (status.fullAccounts). Set by the leader only.",
		}, []string{"namespace", "name"}),
	}
	for _, c := range []prometheus.Collector{m.actions, m.restCalls, m.notifications, m.available, m.full} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register controller metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) notified(targetType, result string, n int) {
	if m != nil && n > 0 {
		m.notifications.WithLabelValues(targetType, result).Add(float64(n))
	}
}

func (m *Metrics) action(action string, err error) {
	if m == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.actions.WithLabelValues(action, result).Inc()
}

// stored sets the gauges of a resource from its status as stored.
func (m *Metrics) stored(oac *chatv1alpha1.OfficialAccountCapacity) {
	if m == nil {
		return
	}
	available := 1.0
	if meta.IsStatusConditionFalse(oac.Status.Conditions, chatv1alpha1.ConditionCapacityAvailable) {
		available = 0
	}
	m.available.WithLabelValues(oac.Namespace, oac.Name).Set(available)
	m.full.WithLabelValues(oac.Namespace, oac.Name).Set(float64(oac.Status.FullAccounts))
}

// gone removes the gauges of a resource that is deleted.
func (m *Metrics) gone(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.available.DeleteLabelValues(key.Namespace, key.Name)
	m.full.DeleteLabelValues(key.Namespace, key.Name)
}
