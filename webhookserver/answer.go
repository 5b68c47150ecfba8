package webhookserver

import (
	"encoding/json"
	"fmt"
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
