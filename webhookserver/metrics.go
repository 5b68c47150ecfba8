package webhookserver

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a callback, the "result" label of oacapacity_callbacks_total.
const (
	resultRecorded       = "recorded"        // a new event, written to status
	resultDuplicate      = "duplicate"       // already in status; nothing written
	resultIgnored        = "ignored"         // another command; acknowledged, nothing written
	resultUnknownAccount = "unknown_account" // no resource lists the account; nothing written
	resultBadRequest     = "bad_request"
	resultUnauthorized   = "unauthorized"
	resultUnknownApp     = "unknown_app"
	resultBadMethod      = "method_not_allowed"
	resultTooLarge       = "too_large"
	resultUnavailable    = "unavailable"  // not written in time, or cannot be queued
	resultRelayed        = "relayed"      // relayed to the app's backend, its answer returned
	resultRelayFailed    = "relay_failed" // the app's backend gave no usable answer: 502/504
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	callbacks   *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	writes      *prometheus.CounterVec
	queueDepth  prometheus.Gauge
	dropped     *prometheus.CounterVec
	writeEvents prometheus.Histogram

	relays       *prometheus.CounterVec
	relayLatency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_callbacks_total",
			Help: "Chat callbacks received, by command and result.",
		}, []string{"command", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oacapacity_callback_duration_seconds",
			Help:    "Time from receiving a callback to answering it, by result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2, 5, 10, 15},
		}, []string{"result"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_status_writes_total",
			Help: "Status writes of recorded callbacks, by result (success, conflict, error, dropped).",
		}, []string{"result"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oacapacity_callback_queue_depth",
			Help: "Accepted events not yet written to status.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_callback_events_dropped_total",
			Help: "Events given up on, by reason (queue_full, resource_gone, invalid, shutdown).",
		}, []string{"reason"}),
		writeEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "oacapacity_status_write_events",
			Help:    "Events merged into one successful status write (group commit).",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200},
		}),
		relays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oacapacity_callback_relays_total",
			Help: "Callbacks relayed to the app's own backend (spec.callbackForward), by command and outcome (answered, timeout, unreachable, too_large, bad_target; in the background also queue_full, rejected, shutdown).",
		}, []string{"command", "outcome"}),
		relayLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "oacapacity_callback_relay_duration_seconds",
			Help:    "Time from posting a callback to the app's backend to having its answer, or giving up.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2},
		}),
	}
	for _, c := range []prometheus.Collector{m.callbacks, m.latency, m.writes, m.queueDepth, m.dropped, m.writeEvents, m.relays, m.relayLatency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register metrics: a callback server is already registered with this registry: %w", err)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
