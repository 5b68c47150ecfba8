package webhookserver

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// answer is the JSON every response carries, success or not.
type answer struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

// answerOK is the acknowledgement of a recorded, duplicate or ignored callback.
var answerOK = answer{ActionStatus: "OK", ErrorInfo: "", ErrorCode: 0}

// answerOKJSON is answerOK as json.Encoder writes it, made once: most answers are it.
var answerOKJSON = func() []byte {
	b, err := json.Marshal(answerOK)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}()

// failAnswer is a refusal. ErrorCode repeats the HTTP status so that the Chat
// console's statistics and our logs say the same thing.
func failAnswer(status int, info string) answer {
	return answer{ActionStatus: "FAIL", ErrorInfo: info, ErrorCode: status}
}

// jsonAnswer is a as json.Encoder writes it.
func jsonAnswer(a answer) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	return append(b, '\n'), nil
}

// writeAnswer writes a with the HTTP status: every response, the callback's and the
// 404 of any other path, goes out through here in the protocol's JSON.
func writeAnswer(w http.ResponseWriter, status int, a answer) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if a == answerOK {
		_, _ = w.Write(answerOKJSON)
		return
	}
	_ = json.NewEncoder(w).Encode(a)
}
