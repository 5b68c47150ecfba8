package chatapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// maxAnswerBytes bounds how much of an answer is read; the largest answer
// here (50 accounts' info) is a few KiB.
const maxAnswerBytes = 1 << 20

// flexInt is a JSON integer that may come as a number or a decimal string;
// Set says whether the field was present.
type flexInt struct {
	V   int64
	Set bool
}

// UnmarshalJSON accepts 12, 12.0, "12" and null.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	if strings.TrimSpace(string(b)) == "null" {
		*f = flexInt{}
		return nil
	}
	v, ok := parseFlexInt(b)
	if !ok {
		return fmt.Errorf("not an integer: %.40s", b)
	}
	*f = flexInt{V: v, Set: true}
	return nil
}

// envelope is what every answer carries.
type envelope struct {
	ActionStatus *string `json:"ActionStatus"`
	ErrorCode    flexInt `json:"ErrorCode"`
	ErrorInfo    string  `json:"ErrorInfo"`
}

// parseAnswer checks the common part of an answer. It returns nil when the
// call succeeded (HTTP 200, ActionStatus OK, ErrorCode 0), otherwise an
// *APIError without Service and Command, which the caller fills in.
func parseAnswer(status int, body []byte) *APIError {
	var env envelope
	jsonErr := json.Unmarshal(body, &env)
	if status != http.StatusOK {
		// Tencent documents 200 unless the network failed; a proxy or
		// gateway may still answer otherwise. Keep any code it gave.
		e := &APIError{HTTPStatus: status, kind: kindHTTP}
		if jsonErr == nil {
			e.Code, e.Info = int(env.ErrorCode.V), env.ErrorInfo
		}
		return e
	}
	if !json.Valid(body) {
		return &APIError{HTTPStatus: status, kind: kindNotJSON, Info: fmt.Sprintf("answer is not JSON (%d bytes)", len(body))}
	}
	if jsonErr != nil {
		return &APIError{HTTPStatus: status, kind: kindBadShape, Info: "answer is not the documented JSON object: " + jsonErr.Error()}
	}
	if env.ActionStatus == nil {
		return &APIError{HTTPStatus: status, kind: kindBadShape, Info: "answer has no ActionStatus"}
	}
	switch {
	case strings.EqualFold(*env.ActionStatus, "OK") && env.ErrorCode.V == 0:
		return nil
	case strings.EqualFold(*env.ActionStatus, "OK"), strings.EqualFold(*env.ActionStatus, "FAIL"):
		// FAIL, or OK with a non-zero code: the code decides.
		return &APIError{HTTPStatus: status, kind: kindCode, Code: int(env.ErrorCode.V), Info: env.ErrorInfo}
	}
	return &APIError{HTTPStatus: status, kind: kindBadShape, Info: fmt.Sprintf("unknown ActionStatus %.20q", *env.ActionStatus)}
}
