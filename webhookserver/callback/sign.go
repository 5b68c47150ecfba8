package callback

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Sign is the webhook signature of the Chat protocol: the lowercase hex SHA-256 of the
// console's Token followed by RequestTime in Unix seconds. It is a plain hash, not an
// HMAC, and it does not cover the body.
func Sign(token string, requestTime int64) string {
	sum := sha256.Sum256([]byte(token + strconv.FormatInt(requestTime, 10)))
	return hex.EncodeToString(sum[:])
}

// signError is an authentication failure: it becomes a 401 answer.
type signError struct{ msg string }

func (e *signError) Error() string { return e.msg }

// CheckSign authenticates a callback with token. A stale RequestTime is refused even
// with a valid Sign, which bounds how long a captured URL can be replayed.
func CheckSign(cb Callback, token string, now time.Time, maxSkew time.Duration) error {
	if cb.Sign == "" {
		return &signError{msg: "Sign is required"}
	}
	if cb.RequestTime <= 0 {
		return &signError{msg: "RequestTime (Unix seconds) is required with Sign"}
	}
	skew := now.Sub(time.Unix(cb.RequestTime, 0))
	if skew > maxSkew || skew < -maxSkew {
		return &signError{msg: "RequestTime is outside the accepted window"}
	}
	want := Sign(token, cb.RequestTime)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(cb.Sign))) != 1 {
		return &signError{msg: "Sign does not match"}
	}
	return nil
}
