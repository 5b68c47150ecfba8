package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// A toggle is a boolean value of the chart under which a variant of some objects
// replaces their base form.
type toggle struct {
	on, off string // template conditions: the variant applies, the base applies
}

// A hunk replaces the base lines [start, end) by lines when its toggle is on.
type hunk struct {
	start, end int
	lines      []string
	t          toggle
	order      int // the toggle's place among the toggles, for insertions at one point
}

// diff returns the hunks that turn the lines a into b: a shortest edit script, from
// the longest common subsequence of lines.
func diff(a, b []string, t toggle, order int) []hunk {
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var hunks []hunk
	var cur *hunk
	edit := func(i int) *hunk {
		if cur == nil {
			hunks = append(hunks, hunk{start: i, end: i, t: t, order: order})
			cur = &hunks[len(hunks)-1]
		}
		return cur
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i, j, cur = i+1, j+1, nil
		case j == len(b) || (i < len(a) && lcs[i+1][j] >= lcs[i][j+1]):
			edit(i).end = i + 1
			i++
		default:
			h := edit(i)
			h.lines = append(h.lines, b[j])
			j++
		}
	}
	return hunks
}

// render returns the lines of base with each hunk in place as a template conditional,
// so that the text renders as base with every toggle off and as the variant of each
// toggle that is on. Hunks of different toggles must not touch the same base lines;
// insertions at one point come in the toggles' order.
func render(base []string, hunks []hunk) ([]string, error) {
	hunks = slices.Clone(hunks)
	slices.SortStableFunc(hunks, func(x, y hunk) int {
		if c := cmp.Compare(x.start, y.start); c != 0 {
			return c
		}
		// At one point, the insertions first, in the toggles' order.
		if c := cmp.Compare(x.end-x.start, y.end-y.start); c != 0 {
			return c
		}
		return cmp.Compare(x.order, y.order)
	})
	var out []string
	i := 0
	for _, h := range hunks {
		if h.start < i {
			return nil, fmt.Errorf("%q and another toggle change the same lines, from line %d: %q", h.t.on, h.start+1, base[h.start:h.end])
		}
		out = append(out, base[i:h.start]...)
		old := base[h.start:h.end]
		ind := indent(append(slices.Clone(h.lines), old...)[0])
		switch {
		case len(old) == 0:
			out = append(out, ind+"{{- if "+h.t.on+" }}")
			out = append(out, h.lines...)
		case len(h.lines) == 0:
			out = append(out, ind+"{{- if "+h.t.off+" }}")
			out = append(out, old...)
		default:
			out = append(out, ind+"{{- if "+h.t.on+" }}")
			out = append(out, h.lines...)
			out = append(out, ind+"{{- else }}")
			out = append(out, old...)
		}
		out = append(out, ind+"{{- end }}")
		i = h.end
	}
	return append(out, base[i:]...), nil
}

// indent returns the leading spaces of line.
func indent(line string) string {
	return line[:len(line)-len(strings.TrimLeft(line, " "))]
}
