package chatapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrMalformedAnswer is wrapped by an *APIError whose answer could not be
// read: not JSON, no ActionStatus, fields of the wrong type, an item missing.
var ErrMalformedAnswer = errors.New("chatapi: malformed answer")

// answerKind says why an APIError exists; it drives Retryable.
type answerKind int

const (
	kindCode     answerKind = iota // ActionStatus FAIL or ErrorCode != 0
	kindHTTP                       // HTTP status other than 200
	kindNotJSON                    // 200 but the body is not JSON (cut short, proxy page)
	kindBadShape                   // JSON, but not the documented shape
)

// APIError is a call that reached the Chat backend (or something answering in
// its place) and got a failed answer. Per-item failures of a batch call are
// APIErrors too, with Account set.
type APIError struct {
	Service    string // e.g. official_account_open_http_svc
	Command    string // e.g. create_official_account
	Code       int    // Chat ErrorCode; 0 when the answer had none
	Info       string // Chat ErrorInfo, or what was wrong with the answer
	HTTPStatus int    // HTTP status of the answer
	Account    string // the item a per-item error is about; "" for the whole call

	kind answerKind
}

// Error describes the failure; it never contains the UserSig or the key.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chatapi %s/%s", e.Service, e.Command)
	if e.Account != "" {
		fmt.Fprintf(&b, " account %q", e.Account)
	}
	switch e.kind {
	case kindHTTP:
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
		if e.Code != 0 {
			fmt.Fprintf(&b, ", ErrorCode %d", e.Code)
		}
		if e.Info != "" {
			fmt.Fprintf(&b, ": %s", e.Info)
		}
	case kindNotJSON, kindBadShape:
		fmt.Fprintf(&b, ": malformed answer (HTTP %d): %s", e.HTTPStatus, e.Info)
	default:
		fmt.Fprintf(&b, ": ErrorCode %d", e.Code)
		if e.Info != "" {
			fmt.Fprintf(&b, ": %s", e.Info)
		}
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrMalformedAnswer) find malformed answers.
func (e *APIError) Unwrap() error {
	if e.kind == kindNotJSON || e.kind == kindBadShape {
		return ErrMalformedAnswer
	}
	return nil
}

// Retryable reports whether trying the same call again can help: HTTP 429 or
// 5xx, a body that is not JSON (a cut-short transfer or a gateway page), or a
// Chat code listed by RetryableCode.
func (e *APIError) Retryable() bool {
	switch e.kind {
	case kindHTTP:
		return e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus >= 500
	case kindNotJSON:
		return true
	case kindBadShape:
		return false
	}
	return RetryableCode(e.Code)
}

// AuthFailed reports whether the Chat backend refused the credentials (see
// AuthCode), which only an operator can fix.
func (e *APIError) AuthFailed() bool {
	return e.kind == kindCode && AuthCode(e.Code)
}

// TransportError is a call that got no answer: connection refused or reset,
// a timeout, a body cut short. The URL inside has no query string, so the
// UserSig is not in it.
type TransportError struct {
	Service string // e.g. openim
	Command string // e.g. sendmsg
	Err     error  // the cause, already redacted
}

// Error describes the failure without the request's query string.
func (e *TransportError) Error() string {
	return fmt.Sprintf("chatapi %s/%s: %v", e.Service, e.Command, e.Err)
}

// Unwrap returns the cause (a *url.Error, a net.Error, a context error).
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable is true unless the caller cancelled: a network failure or a
// timeout may well pass.
func (e *TransportError) Retryable() bool {
	return !errors.Is(e.Err, context.Canceled)
}

// IsRetryable reports whether err, from any call of this package, is worth
// retrying later. It is false for nil, cancellation, bad requests, auth
// failures and answers that say the thing cannot be done.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsAuthError reports whether err is the Chat backend refusing the
// credentials (see AuthCode).
func IsAuthError(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.AuthFailed()
}

// redactTransportError strips the query string (which holds the UserSig) from
// the *url.Error that http.Client returns, and, as a second guard, replaces
// any remaining copy of secret in the inner message.
func redactTransportError(err error, secrets ...string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		inner := ue.Err
		if inner != nil && containsAny(inner.Error(), secrets) {
			inner = errors.New(scrub(inner.Error(), secrets))
		}
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: inner}
	}
	if containsAny(err.Error(), secrets) {
		return errors.New(scrub(err.Error(), secrets))
	}
	return err
}

// redactURL drops query, fragment and user info from raw.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL redacted]"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return u.String()
}

func containsAny(s string, secrets []string) bool {
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func scrub(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}
