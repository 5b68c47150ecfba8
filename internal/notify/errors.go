package notify

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Error is a failed delivery. Its text never holds the target URL's path or
// query, nor the signing key.
type Error struct {
	Type      string // the target type, e.g. "wecom"
	Permanent bool   // true when sending the same message again cannot help
	Status    int    // HTTP status of the answer; 0 when there was none
	Code      int    // provider code (errcode, code, Chat ErrorCode); 0 when none
	Info      string // what the answer said (errmsg, body excerpt), scrubbed
	Attempts  int    // attempts made, the first included
	Err       error  // the cause (network, context, Chat error), scrubbed; may be nil

	retryAfter time.Duration // the answer's Retry-After; 0 when none
}

// Error describes the failure.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("notify")
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != 0 {
		sep := ","
		if e.Status == 0 {
			sep = ":"
		}
		fmt.Fprintf(&b, "%s code %d", sep, e.Code)
	}
	if e.Info != "" {
		b.WriteString(": " + e.Info)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err holds an *Error that says trying again
// cannot help (a 4xx answer, a refusal code, a bad message or config). It is
// false for nil, for retryable failures and for cancellation.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// maxInfoBytes bounds Error.Info, which is for people, not for parsing.
const maxInfoBytes = 256

// secretsOf lists what must never appear in an error: the URL itself, every
// query value, every longer path segment (robot IDs and tokens are long; the
// short ones are words like "send"), their unescaped forms, and the key.
func secretsOf(rawURL, key string) []string {
	s := []string{rawURL, key}
	u, err := url.Parse(rawURL)
	if err != nil {
		return s
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 4 {
				s = append(s, v, url.QueryEscape(v))
			}
		}
	}
	if u.RawQuery != "" {
		s = append(s, u.RawQuery)
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if len(seg) >= 8 {
			s = append(s, seg)
			if un, err := url.PathUnescape(seg); err == nil {
				s = append(s, un)
			}
		}
	}
	if u.User != nil {
		s = append(s, u.User.String())
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortStableFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}

// scrub replaces every secret in s.
func scrub(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

// info makes an Error.Info from an answer's text: scrubbed, then cut.
func info(s string, secrets []string) string {
	s = strings.Join(strings.Fields(scrub(s, secrets)), " ")
	return truncateUTF8(s, maxInfoBytes)
}

// redactURL keeps the scheme and host of raw; the path and query, which may
// hold the robot's key, become "[redacted]".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[unparsable URL redacted]"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" {
		s += "/[redacted]"
	}
	if u.RawQuery != "" {
		s += "?[redacted]"
	}
	return s
}

// redactError returns err without the secrets: a *url.Error gets its URL
// redacted, and any inner text that still holds a secret is replaced by a
// scrubbed copy (which loses the error chain, a fair price).
func redactError(err error, secrets []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		inner := ue.Err
		if inner != nil && scrub(inner.Error(), secrets) != inner.Error() {
			inner = errors.New(scrub(inner.Error(), secrets))
		}
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: inner}
	}
	if s := scrub(err.Error(), secrets); s != err.Error() {
		return errors.New(s)
	}
	return err
}
