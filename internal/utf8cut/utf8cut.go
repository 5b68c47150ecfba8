// Package utf8cut cuts strings to a byte budget without splitting a UTF-8 sequence.
// It is a leaf: the controllers (events, status messages) and the notifiers (message
// limits of the targets) both cut text, and one function keeps their cuts the same.
package utf8cut

import "unicode/utf8"

// Cut is the longest prefix of s of at most n bytes that does not end inside a
// UTF-8 sequence.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:max(n, 0)]
}
