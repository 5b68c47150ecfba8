package utf8cut_test

import (
	"testing"
	"unicode/utf8"

	"github.com/oacapacity/oa-capacity-operator/internal/utf8cut"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 0, ""},
		{"abc", 3, "abc"},
		{"abc", 5, "abc"},
		{"abcd", 3, "abc"},
		{"abc", 0, ""},
		{"满满满", 9, "满满满"},
		{"满满满", 8, "满满"},
		{"满满满", 6, "满满"},
		{"满满满", 5, "满"},
		{"满满满", 2, ""},
		{"a满", 3, "a"},
		{"a😀b", 4, "a"},
		{"a😀b", 5, "a😀"},
	} {
		got := utf8cut.Cut(tc.s, tc.n)
		if got != tc.want || len(got) > max(tc.n, 0) || !utf8.ValidString(got) {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
