package main

import (
	"bufio"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted: the smallest
// value with at least p% of the values at or below it. It is 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summary is the latency distribution of one run.
type summary struct {
	n                       int
	p50, p90, p99, max, min time.Duration
}

func summarize(lat []time.Duration) summary {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return summary{}
	}
	return summary{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[len(s)-1], min: s[0]}
}

func (s summary) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("min %v  p50 %v  p90 %v  p99 %v  max %v", r(s.min), r(s.p50), r(s.p90), r(s.p99), r(s.max))
}

// spread is the median, least and greatest of repeated measurements of one ratio.
type spread struct{ median, lo, hi float64 }

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{m, s[0], s[len(s)-1]}
}

func (s spread) String() string {
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", s.median, s.lo, s.hi)
}

// metricValue returns the value of the sample of name whose labels include every
// label of want (e.g. `result="success"`) in the Prometheus text format, summed over
// the samples that match; found is false when none does.
func metricValue(text, name string, want ...string) (sum float64, found bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		var labels string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric whose name starts with name
		}
		matches := true
		for _, w := range want {
			if !slices.Contains(strings.Split(labels, ","), w) {
				matches = false
				break
			}
		}
		if !matches {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// rateBuckets counts events per whole second since start: counts[i] is the number of
// events in [start+i s, start+i+1 s).
func rateBuckets(start time.Time, times []time.Time) []int {
	var counts []int
	for _, t := range times {
		if t.Before(start) {
			continue
		}
		i := int(t.Sub(start) / time.Second)
		for len(counts) <= i {
			counts = append(counts, 0)
		}
		counts[i]++
	}
	return counts
}
