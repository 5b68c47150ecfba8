// Package callback is the Chat callback protocol as the receiver reads it: the query
// and body of a callback POST, and its Sign. Standard library only, so that its parser
// is cheap to fuzz.
package callback

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// CommandAccountFull is the callback this server exists for.
const CommandAccountFull = "OfficialAccount.CallbackAfterOfficialAccountFull"

// knownCommands are the other Official Account callbacks that may reach the same URL.
// They are acknowledged and counted under their own name; anything else is counted as
// "other", so that a caller cannot grow the metric's label set.
var knownCommands = map[string]bool{
	CommandAccountFull: true,
	"OfficialAccount.CallbackBeforeCreateOfficialAccount":     true,
	"OfficialAccount.CallbackAfterCreateOfficialAccount":      true,
	"OfficialAccount.CallbackAfterOfficialAccountInfoChanged": true,
	"OfficialAccount.CallbackAfterOfficialAccountDestroyed":   true,
	"OfficialAccount.CallbackBeforeAddSubscriber":             true,
	"OfficialAccount.CallbackAfterAddSubscriber":              true,
	"OfficialAccount.CallbackAfterDeleteSubscriber":           true,
	"OfficialAccount.CallbackBeforeSendMsg":                   true,
	"OfficialAccount.CallbackAfterSendMsg":                    true,
	"OfficialAccount.CallbackAfterMsgWithDraw":                true,
}

// CommandLabel is the metric label of a command.
func CommandLabel(cmd string) string {
	if knownCommands[cmd] {
		return cmd
	}
	return "other"
}

// Callback is a parsed request. Account and EventTime are set only for
// CommandAccountFull.
type Callback struct {
	SDKAppID    int64
	Command     string
	Sign        string // empty when the request is unsigned
	RequestTime int64  // Unix seconds; 0 when absent or not a positive integer
	Account     string
	EventTime   int64 // Unix milliseconds
}

// requestError is bad input: it becomes a 400 answer with a message safe to return.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// Parse checks the query and body of a callback POST as the Chat protocol
// defines them. It does not authenticate; see CheckSign. An EventTime after
// notAfter (Unix ms) is refused: stored, it would make every real event look old.
func Parse(query url.Values, raw []byte, notAfter int64) (Callback, error) {
	var cb Callback

	appID, err := singleParam(query, "SdkAppid")
	if err != nil {
		return cb, err
	}
	cb.SDKAppID, err = strconv.ParseInt(appID, 10, 64)
	if err != nil || cb.SDKAppID <= 0 {
		return cb, badRequest("SdkAppid must be a positive integer")
	}
	if cb.Command, err = singleParam(query, "CallbackCommand"); err != nil {
		return cb, err
	}
	// Sign and RequestTime are authentication: what is missing or malformed in them
	// is for CheckSign to refuse (401), not a malformed request (400). A RequestTime
	// that is not Unix seconds stays 0.
	if cb.Sign, err = optionalParam(query, "Sign"); err != nil {
		return cb, err
	}
	rt, err := optionalParam(query, "RequestTime")
	if err != nil {
		return cb, err
	}
	if v, err := strconv.ParseInt(rt, 10, 64); err == nil && v > 0 {
		cb.RequestTime = v
	}

	// Field names are matched exactly, as the protocol spells them (encoding/json
	// alone would also take "callbackcommand"). A key given twice is refused:
	// encoding/json would silently keep the last one; which one the sender meant is
	// anyone's guess.
	fields, dup, ok := parseObject(raw)
	if !ok {
		return cb, badRequest("body is not a JSON object")
	}
	if dup != "" {
		return cb, badRequest("body has %s more than once", dup)
	}
	command, err := stringField(fields, "CallbackCommand")
	if err != nil {
		return cb, err
	}
	if command != cb.Command {
		return cb, badRequest("CallbackCommand of the body does not match the query")
	}
	if cb.Command != CommandAccountFull {
		return cb, nil
	}

	if cb.Account, err = stringField(fields, "Official_Account"); err != nil {
		return cb, err
	}
	if len(cb.Account) > maxAccountBytes {
		return cb, badRequest("Official_Account must be at most %d bytes", maxAccountBytes)
	}
	et, ok := fields.get("EventTime")
	if !ok || bytes.Equal(et, []byte("null")) {
		return cb, badRequest("body has no EventTime")
	}
	// ParseInt on the raw JSON refuses a quoted, fractional or exponent number.
	cb.EventTime, err = strconv.ParseInt(string(et), 10, 64)
	if err != nil || cb.EventTime <= 0 {
		return cb, badRequest("EventTime must be a positive integer (Unix milliseconds)")
	}
	if cb.EventTime > notAfter {
		return cb, badRequest("EventTime is in the future")
	}
	return cb, nil
}

// stringField returns a required, non-empty string field of a JSON object.
func stringField(fields object, name string) (string, error) {
	raw, ok := fields.get(name)
	if !ok || bytes.Equal(raw, []byte("null")) {
		return "", badRequest("body has no %s", name)
	}
	if raw[0] != '"' {
		return "", badRequest("%s must be a string", name)
	}
	v := decodeString(raw)
	if v == "" {
		return "", badRequest("body has no %s", name)
	}
	return v, nil
}

// singleParam returns a required query parameter that must appear once.
func singleParam(q url.Values, name string) (string, error) {
	v, err := optionalParam(q, name)
	if err == nil && v == "" {
		return "", badRequest("query parameter %s is required", name)
	}
	return v, err
}

func optionalParam(q url.Values, name string) (string, error) {
	vs := q[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vs[0]), nil
	default:
		return "", badRequest("query parameter %s is given more than once", name)
	}
}

// maxAccountBytes bounds Official_Account. Chosen IDs are at most 48 bytes, but the
// IDs Chat generates itself are not documented, so the parser is lenient: an ID that
// no resource lists is acknowledged as unknown, not refused.
const maxAccountBytes = 256
