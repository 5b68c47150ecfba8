package controllers

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
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
	}
	for _, c := range []prometheus.Collector{m.actions, m.restCalls, m.notifications} {
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
