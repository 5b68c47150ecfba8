// Package metricnames tells the checks of the alert rules and the dashboard
// (hack/promqlcheck) which metrics the manager serves.
package metricnames

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/oacapacity/oa-capacity-operator/controllers"
	"github.com/oacapacity/oa-capacity-operator/webhookserver"
)

// describer is a prometheus.Registerer that records the names of the metrics
// registered with it. Unlike a Registry's Gather, it sees vectors without series.
type describer map[string]bool

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	var err error
	for desc := range ch {
		m := fqName.FindStringSubmatch(desc.String())
		if m == nil {
			err = errors.Join(err, fmt.Errorf("no fqName in %s", desc))
			continue
		}
		d[m[1]] = true
	}
	return err
}

func (d describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

func (d describer) Unregister(prometheus.Collector) bool { return false }

// Operator is the set of names the operator's own collectors register, as the manager
// builds them: the controller's and the callback receiver's.
func Operator() (map[string]bool, error) {
	d := describer{}
	if _, err := controllers.NewMetrics(d); err != nil {
		return nil, fmt.Errorf("controller metrics: %w", err)
	}
	if _, err := webhookserver.New(nil, nil, nil, webhookserver.Options{Registerer: d}); err != nil {
		return nil, fmt.Errorf("receiver metrics: %w", err)
	}
	if !d["oacapacity_callbacks_total"] || !d["oacapacity_capacity_available"] {
		return nil, fmt.Errorf("the describer missed metrics: %v", d)
	}
	return d, nil
}

// InControllerRuntime reports whether controller-runtime's registry (served on the
// same endpoint) has a collector named name, series or not: registering another
// collector of that name fails then.
func InControllerRuntime(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe of test/metricnames"})
	if err := ctrlmetrics.Registry.Register(probe); err != nil {
		return true
	}
	ctrlmetrics.Registry.Unregister(probe)
	return false
}
