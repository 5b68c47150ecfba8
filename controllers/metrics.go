package controllers

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

	// The gauges are made at scrape time from one small record per resource: gauge
	// vectors would hold a metric object, its label pairs and its descriptor per
	// series, 13 series per resource of 3 accounts, which at 10,000 resources was a
	// third of the manager's heap (docs/performance.md).
	available, full, nearlyFull, active, subscribers, limit, toFull *prometheus.Desc

	mu    sync.Mutex
	pools map[types.NamespacedName]*poolGauges
}

// poolGauges is what the gauges of one resource say, as its status was last stored,
// with the label pairs of its series made once: a scrape then allocates little more
// than the samples themselves (docs/performance.md: at 10,000 resources a scrape made
// 130,000 label sets anew).
type poolGauges struct {
	available  float64
	full       int32
	nearlyFull int32
	labels     []*dto.LabelPair // name, namespace
	active     []*dto.LabelPair // account, name, namespace; nil: no active account
	accounts   []accountGauges  // empty unless PerAccount
}

type accountGauges struct {
	labels      []*dto.LabelPair // account, name, namespace
	subscribers int64
	limit       int64
	toFull      float64 // seconds; < 0: no series
}

// sample is one gauge series of a scrape.
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair // sorted by name, shared with poolGauges: read only
	value  float64
}

func (s sample) Desc() *prometheus.Desc { return s.desc }

func (s sample) Write(out *dto.Metric) error {
	v := s.value
	out.Label, out.Gauge = s.labels, &dto.Gauge{Value: &v}
	return nil
}

func labelPair(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// The gauges are per resource, or per account of a resource's pool.
	resourceLabels, accountLabels := []string{"namespace", "name"}, []string{"namespace", "name", "account"}
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
		available: prometheus.NewDesc("oacapacity_capacity_available",
			"Per resource, as its stored status says: 0 while no account of the pool has room (CapacityAvailable False), else 1. Set by the leader only.", resourceLabels, nil),
		full: prometheus.NewDesc("oacapacity_full_accounts",
			"Per resource, as its stored status says: accounts of the pool that are full now (status.fullAccounts). Set by the leader only.", resourceLabels, nil),
		nearlyFull: prometheus.NewDesc("oacapacity_nearly_full_accounts",
			"Per resource: accounts of the pool that are nearly full now (spec.headroom). Set by the leader only.", resourceLabels, nil),
		active: prometheus.NewDesc("oacapacity_active_account",
			"Per resource, 1 for the account new subscribers go to (status.activeAccount); no series while none has room. Set by the leader only.", accountLabels, nil),
		subscribers: prometheus.NewDesc("oacapacity_account_subscribers",
			"Per account of each pool, the subscriber count last read from the Chat REST API. Set by the leader only; off with --account-metrics=false.", accountLabels, nil),
		limit: prometheus.NewDesc("oacapacity_account_subscriber_limit",
			"Per account of each pool, its subscriber limit as the operator knows it (0: not known yet). Set by the leader only; off with --account-metrics=false.", accountLabels, nil),
		toFull: prometheus.NewDesc("oacapacity_account_seconds_to_full",
			"Per account of each pool, the seconds until it reaches its limit at its fill rate, as of its last reading; no series while it does not grow or its limit is not known. Set by the leader only; off with --account-metrics=false.", accountLabels, nil),
		pools: map[types.NamespacedName]*poolGauges{},
	}
	for _, c := range []prometheus.Collector{m.actions, m.restCalls, m.notifications, gaugeCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register controller metrics: %w", err)
		}
	}
	return m, nil
}

// gaugeCollector collects the per-resource gauges of m.
type gaugeCollector struct{ m *Metrics }

func (g gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	m := g.m
	for _, d := range []*prometheus.Desc{m.available, m.full, m.nearlyFull, m.active, m.subscribers, m.limit, m.toFull} {
		ch <- d
	}
}

func (g gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	m := g.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pools {
		ch <- sample{m.available, p.labels, p.available}
		ch <- sample{m.full, p.labels, float64(p.full)}
		ch <- sample{m.nearlyFull, p.labels, float64(p.nearlyFull)}
		if p.active != nil {
			ch <- sample{m.active, p.active, 1}
		}
		for _, a := range p.accounts {
			ch <- sample{m.subscribers, a.labels, float64(a.subscribers)}
			ch <- sample{m.limit, a.labels, float64(a.limit)}
			if a.toFull >= 0 {
				ch <- sample{m.toFull, a.labels, a.toFull}
			}
		}
	}
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
	key := types.NamespacedName{Namespace: oac.Namespace, Name: oac.Name}
	m.mu.Lock()
	old := m.pools[key]
	m.mu.Unlock()
	p := &poolGauges{available: 1, full: oac.Status.FullAccounts}
	if old != nil {
		p.labels = old.labels
	} else {
		p.labels = []*dto.LabelPair{labelPair("name", key.Name), labelPair("namespace", key.Namespace)}
	}
	// The label pairs of an account, those of its last series when it had one.
	accountLabels := func(id string) []*dto.LabelPair {
		if old != nil {
			for _, a := range old.accounts {
				if a.labels[0].GetValue() == id {
					return a.labels
				}
			}
			if old.active != nil && old.active[0].GetValue() == id {
				return old.active
			}
		}
		return []*dto.LabelPair{labelPair("account", id), p.labels[0], p.labels[1]}
	}
	if meta.IsStatusConditionFalse(oac.Status.Conditions, chatv1alpha1.ConditionCapacityAvailable) {
		p.available = 0
	}
	for _, a := range oac.Status.Accounts {
		if a.NearlyFull {
			p.nearlyFull++
		}
	}
	if m.PerAccount {
		p.accounts = make([]accountGauges, len(oac.Status.Accounts))
		for i, a := range oac.Status.Accounts {
			p.accounts[i] = accountGauges{labels: accountLabels(a.ID), subscribers: a.SubscriberNum, limit: a.MaxSubscriberNum, toFull: -1}
			if a.PredictedFullTime != nil && a.ReadTime != nil {
				p.accounts[i].toFull = max(a.PredictedFullTime.Sub(a.ReadTime.Time), 0).Seconds()
			}
		}
	}
	if id := oac.Status.ActiveAccount; id != "" {
		p.active = accountLabels(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pools[key] = p
}

// gone removes the gauges of a resource that is deleted.
func (m *Metrics) gone(key types.NamespacedName) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pools, key)
}
