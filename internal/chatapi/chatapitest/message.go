package chatapitest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// sendMsgRequest has the fields the client sends plus the other documented
// optional ones, so that they are not mistaken for misspellings.
type sendMsgRequest struct {
	SyncOtherMachine      *int            `json:"SyncOtherMachine"`
	From                  *string         `json:"From_Account"`
	To                    *string         `json:"To_Account"`
	MsgRandom             *uint32         `json:"MsgRandom"`
	MsgBody               []msgElem       `json:"MsgBody"`
	MsgSeq                json.RawMessage `json:"MsgSeq"`
	MsgLifeTime           json.RawMessage `json:"MsgLifeTime"`
	MsgTimeStamp          json.RawMessage `json:"MsgTimeStamp"`
	OfflinePushInfo       json.RawMessage `json:"OfflinePushInfo"`
	ForbidCallbackControl json.RawMessage `json:"ForbidCallbackControl"`
	SendMsgControl        json.RawMessage `json:"SendMsgControl"`
	CloudCustomData       json.RawMessage `json:"CloudCustomData"`
	IsNeedReadReceipt     json.RawMessage `json:"IsNeedReadReceipt"`
}

type msgElem struct {
	MsgType    string `json:"MsgType"`
	MsgContent struct {
		Text *string `json:"Text"`
	} `json:"MsgContent"`
}

func (s *Server) sendMsg(w http.ResponseWriter, command string, body []byte) {
	var req sendMsgRequest
	if err := decodeStrict(body, &req); err != nil {
		s.bad(w, command, chatapi.CodeJSONParse, "body: %v", err)
		return
	}
	switch {
	case req.SyncOtherMachine == nil || (*req.SyncOtherMachine != 1 && *req.SyncOtherMachine != 2):
		s.bad(w, command, chatapi.CodeInvalidParameter, "SyncOtherMachine must be 1 or 2")
		return
	case req.From != nil && trimmed(*req.From) == "":
		s.bad(w, command, chatapi.CodeInvalidParameter, "From_Account is present but empty")
		return
	case req.To == nil || trimmed(*req.To) == "":
		s.bad(w, command, chatapi.CodeInvalidParameter, "missing To_Account")
		return
	case req.MsgRandom == nil:
		s.bad(w, command, chatapi.CodeInvalidParameter, "missing MsgRandom")
		return
	case len(req.MsgBody) == 0:
		s.bad(w, command, chatapi.CodeInvalidParameter, "empty MsgBody")
		return
	}
	text := ""
	for i, e := range req.MsgBody {
		if e.MsgType != "TIMTextElem" || e.MsgContent.Text == nil || *e.MsgContent.Text == "" {
			s.bad(w, command, chatapi.CodeInvalidParameter, "MsgBody[%d] is not a TIMTextElem with a Text", i)
			return
		}
		text += *e.MsgContent.Text
	}
	s.mu.Lock()
	s.msgSeq++
	m := Message{To: *req.To, Text: text, MsgRandom: *req.MsgRandom, MsgTime: s.now().Unix()}
	if req.From != nil {
		m.From = *req.From
	}
	m.MsgKey = fmt.Sprintf("%d_%d_%d", s.msgSeq, m.MsgRandom, m.MsgTime)
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	writeOK(w, map[string]any{"MsgTime": m.MsgTime, "MsgKey": m.MsgKey})
}
