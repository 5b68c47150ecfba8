package main

import (
	"math"
	"slices"
	"testing"
	"time"
)

func ms(vs ...int) []time.Duration {
	out := make([]time.Duration, len(vs))
	for i, v := range vs {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one value", ms(7), 50, 7 * time.Millisecond},
		{"one value, p99", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p90 of 100", ms(hundred...), 90, 90 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"tiny p is the min", ms(1, 2, 3), 0.001, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.values, tc.p); got != tc.want {
				t.Fatalf("percentile(%v, %v) = %v, want %v", tc.values, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeDoesNotReorder(t *testing.T) {
	in := ms(5, 1, 3)
	s := summarize(in)
	if s.n != 3 || s.p50 != 3*time.Millisecond || s.max != 5*time.Millisecond || s.min != time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if !slices.Equal(in, ms(5, 1, 3)) {
		t.Fatalf("input reordered: %v", in)
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		in            []float64
		med, lo, high float64
	}{
		{[]float64{1}, 1, 1, 1},
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 2, 3}, 2.5, 1, 4},
	} {
		s := spreadOf(tc.in)
		if s.median != tc.med || s.lo != tc.lo || s.hi != tc.high {
			t.Errorf("spreadOf(%v) = %+v", tc.in, s)
		}
	}
	if s := spreadOf(nil); !math.IsNaN(s.median) {
		t.Errorf("spreadOf(nil) = %+v, want NaN", s)
	}
}

const sampleMetrics = `# HELP oacapacity_status_writes_total Status writes.
# TYPE oacapacity_status_writes_total counter
oacapacity_status_writes_total{result="conflict"} 3
oacapacity_status_writes_total{result="success"} 42
oacapacity_status_writes_total_extra{result="success"} 1000
go_goroutines 117
go_goroutines_other 5
oacapacity_callbacks_total{command="OfficialAccount.CallbackAfterOfficialAccountFull",result="duplicate"} 1e+06
oacapacity_callbacks_total{command="other",result="duplicate"} 2
`

func TestMetricValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		metric string
		labels []string
		want   float64
		found  bool
	}{
		{"labelled", "oacapacity_status_writes_total", []string{`result="success"`}, 42, true},
		{"all series summed", "oacapacity_status_writes_total", nil, 45, true},
		{"no label set", "go_goroutines", nil, 117, true},
		{"exponent", "oacapacity_callbacks_total", []string{`command="OfficialAccount.CallbackAfterOfficialAccountFull"`, `result="duplicate"`}, 1e6, true},
		{"label not there", "oacapacity_status_writes_total", []string{`result="error"`}, 0, false},
		{"metric not there", "oacapacity_nothing", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := metricValue(sampleMetrics, tc.metric, tc.labels...)
			if got != tc.want || found != tc.found {
				t.Fatalf("metricValue = %v, %v; want %v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestRateBuckets(t *testing.T) {
	start := time.Unix(1000, 0)
	at := start.Add
	got := rateBuckets(start, []time.Time{at(-time.Millisecond), at(0), at(999 * time.Millisecond), at(time.Second), at(3500 * time.Millisecond)})
	if want := []int{2, 1, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("rateBuckets = %v, want %v", got, want)
	}
}
