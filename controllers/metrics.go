package controllers

import (
	"fmt"
	"slices"
	"sync"

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
	// PerAccount exports the per-account gauges (a series per account of every pool);
	// false leaves them empty, for fleets where that cardinality is too much.
	PerAccount bool

	actions       *prometheus.CounterVec
	restCalls     *prometheus.CounterVec
	notifications *prometheus.CounterVec
	available     *prometheus.GaugeVec
	full          *prometheus.GaugeVec
	nearlyFull    *prometheus.GaugeVec
	active        *prometheus.GaugeVec
	subscribers   *prometheus.GaugeVec
	limit         *prometheus.GaugeVec
	toFull        *prometheus.GaugeVec

	mu       sync.Mutex
	exported map[types.NamespacedName][]string // accounts with series, per resource
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// The gauges are per resource, or per account of a resource's pool.
	resourceLabels, accountLabels := []string{"namespace", "name"}, []string{"namespace", "name", "account"}
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
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
		available: gauge("oacapacity_capacity_available",
			"Per resource, as its stored status says: 0 while no account of the pool has room (CapacityAvailable False), else 1. Set by the leader only.", resourceLabels),
		full: gauge("oacapacity_full_accounts",
			"Per resource, as its stored status says: accounts of the pool that are full now (status.fullAccounts). Set by the leader only.", resourceLabels),
		nearlyFull: gauge("oacapacity_nearly_full_accounts",
			"Per resource: accounts of the pool that are nearly full now (spec.headroom). Set by the leader only.", resourceLabels),
		active: gauge("oacapacity_active_account",
			"Per resource, 1 for the account new subscribers go to (status.activeAccount); no series while none has room. Set by the leader only.", accountLabels),
		subscribers: gauge("oacapacity_account_subscribers",
			"Per account of each pool, the subscriber count last read from the Chat REST API. Set by the leader only; off with --account-metrics=false.", accountLabels),
		limit: gauge("oacapacity_account_subscriber_limit",
			"Per account of each pool, its subscriber limit as the operator knows it (0: not known yet). Set by the leader only; off with --account-metrics=false.", accountLabels),
		toFull: gauge("oacapacity_account_seconds_to_full",
			"Per account of each pool, the seconds until it reaches its limit at its fill rate, as of its last reading; no series while it does not grow or its limit is not known. Set by the leader only; off with --account-metrics=false.", accountLabels),
		exported: map[types.NamespacedName][]string{},
	}
	for _, c := range []prometheus.Collector{m.actions, m.restCalls, m.notifications, m.available, m.full, m.nearlyFull, m.active, m.subscribers, m.limit, m.toFull} {
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
	nearly := 0
	for _, a := range oac.Status.Accounts {
		if a.NearlyFull {
			nearly++
		}
	}
	m.nearlyFull.WithLabelValues(oac.Namespace, oac.Name).Set(float64(nearly))

	key := types.NamespacedName{Namespace: oac.Namespace, Name: oac.Name}
	active := oac.Status.ActiveAccount
	m.mu.Lock()
	defer m.mu.Unlock()
	var now []string // accounts with a series of any of the per-account gauges
	if m.PerAccount {
		for _, a := range oac.Status.Accounts {
			m.subscribers.WithLabelValues(key.Namespace, key.Name, a.ID).Set(float64(a.SubscriberNum))
			m.limit.WithLabelValues(key.Namespace, key.Name, a.ID).Set(float64(a.MaxSubscriberNum))
			if a.PredictedFullTime != nil && a.ReadTime != nil {
				m.toFull.WithLabelValues(key.Namespace, key.Name, a.ID).Set(max(a.PredictedFullTime.Sub(a.ReadTime.Time), 0).Seconds())
			} else {
				m.toFull.DeleteLabelValues(key.Namespace, key.Name, a.ID)
			}
			now = append(now, a.ID)
		}
	}
	if active != "" {
		m.active.WithLabelValues(key.Namespace, key.Name, active).Set(1)
		if !slices.Contains(now, active) {
			now = append(now, active)
		}
	}
	for _, id := range m.exported[key] {
		if id != active {
			m.active.DeleteLabelValues(key.Namespace, key.Name, id)
		}
		if !slices.Contains(now, id) {
			m.subscribers.DeleteLabelValues(key.Namespace, key.Name, id)
			m.limit.DeleteLabelValues(key.Namespace, key.Name, id)
			m.toFull.DeleteLabelValues(key.Namespace, key.Name, id)
		}
	}
	m.exported[key] = now
}

// gone removes the gauges of a resource that is deleted.
func (m *Metrics) gone(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.available.DeleteLabelValues(key.Namespace, key.Name)
	m.full.DeleteLabelValues(key.Namespace, key.Name)
	m.nearlyFull.DeleteLabelValues(key.Namespace, key.Name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.exported[key] {
		for _, g := range []*prometheus.GaugeVec{m.active, m.subscribers, m.limit, m.toFull} {
			g.DeleteLabelValues(key.Namespace, key.Name, id)
		}
	}
	delete(m.exported, key)
}
