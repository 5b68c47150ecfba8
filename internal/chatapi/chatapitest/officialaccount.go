package chatapitest

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// infoFields are the documented OfficialAccountBaseInfoFilter names.
func infoFieldKnown(f string) bool {
	switch f {
	case "CreateTime", "Name", "Owner_Account", "LastMsgTime", "SubscriberNum",
		"Introduction", "FaceUrl", "Organization", "CustomString":
		return true
	}
	return false
}

type getInfoRequest struct {
	IDs []struct {
		Account *string `json:"Official_Account"`
	} `json:"OfficialAccountIdList"`
	Filter *struct {
		Base []string `json:"OfficialAccountBaseInfoFilter"`
	} `json:"ResponseFilter"`
}

func (s *Server) getInfo(w http.ResponseWriter, command string, body []byte) {
	var req getInfoRequest
	if err := decodeStrict(body, &req); err != nil {
		s.bad(w, command, chatapi.CodeJSONParse, "body: %v", err)
		return
	}
	if n := len(req.IDs); n == 0 || n > chatapi.MaxAccountsPerInfoCall {
		s.bad(w, command, chatapi.CodeInvalidParameter, "OfficialAccountIdList has %d items, want 1..%d", n, chatapi.MaxAccountsPerInfoCall)
		return
	}
	want := map[string]bool{}
	if req.Filter != nil {
		for _, f := range req.Filter.Base {
			if !infoFieldKnown(f) {
				s.bad(w, command, chatapi.CodeInvalidParameter, "unknown OfficialAccountBaseInfoFilter field %q", f)
				return
			}
			want[f] = true
		}
	}
	all := req.Filter == nil || len(req.Filter.Base) == 0
	items := make([]map[string]any, 0, len(req.IDs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ref := range req.IDs {
		if ref.Account == nil || trimmed(*ref.Account) == "" {
			s.malformed = append(s.malformed, Malformed{command, "OfficialAccountIdList[" + strconv.Itoa(i) + "] has no Official_Account"})
			writeFail(w, chatapi.CodeInvalidParameter, "empty Official_Account")
			return
		}
		id := *ref.Account
		a, ok := s.accounts[id]
		if !ok {
			items = append(items, map[string]any{"Official_Account": id,
				"ErrorCode": chatapi.CodeOfficialAccountNotFound, "ErrorInfo": "official account does not exist"})
			continue
		}
		it := map[string]any{"Official_Account": id, "ErrorCode": 0, "ErrorInfo": ""}
		add := func(field string, v any) {
			if all || want[field] {
				it[field] = v
			}
		}
		if s.onRead != nil {
			s.onRead(id, s.now())
		}
		add("Name", a.Name)
		add("Owner_Account", a.Owner)
		add("CreateTime", a.CreateTime)
		add("SubscriberNum", a.SubscriberNum)
		add("Introduction", a.Introduction)
		if s.returnMax {
			it["MaxSubscriberNum"] = a.MaxSubscriberNum
		}
		items = append(items, it)
	}
	writeOK(w, map[string]any{"OfficialAccountInfoList": items})
}

type modifyRequest struct {
	Account          *string `json:"Official_Account"`
	Name             *string `json:"Name"`
	Introduction     *string `json:"Introduction"`
	FaceURL          *string `json:"FaceUrl"`
	Organization     *string `json:"Organization"`
	CustomString     *string `json:"CustomString"`
	MaxSubscriberNum *int64  `json:"MaxSubscriberNum"`
}

func (s *Server) modify(w http.ResponseWriter, command string, body []byte) {
	var req modifyRequest
	if err := decodeStrict(body, &req); err != nil {
		s.bad(w, command, chatapi.CodeJSONParse, "body: %v", err)
		return
	}
	switch {
	case req.Account == nil || trimmed(*req.Account) == "":
		s.bad(w, command, chatapi.CodeInvalidParameter, "missing Official_Account")
		return
	case req.Name != nil && validName(*req.Name) != nil:
		s.bad(w, command, chatapi.CodeInvalidParameter, "%v", validName(*req.Name))
		return
	case req.MaxSubscriberNum != nil && *req.MaxSubscriberNum <= 0:
		s.bad(w, command, chatapi.CodeInvalidParameter, "MaxSubscriberNum %d is not positive", *req.MaxSubscriberNum)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[*req.Account]
	if !ok {
		writeFail(w, chatapi.CodeOfficialAccountNotFound, "official account does not exist")
		return
	}
	if req.Name != nil {
		a.Name = *req.Name
	}
	if req.Introduction != nil {
		a.Introduction = *req.Introduction
	}
	if req.MaxSubscriberNum != nil {
		a.MaxSubscriberNum = *req.MaxSubscriberNum
	}
	s.accounts[a.ID] = a
	writeOK(w, nil)
}

type createRequest struct {
	Owner            *string `json:"Owner_Account"`
	Name             *string `json:"Name"`
	UserID           *string `json:"OfficialAccountUserID"`
	Introduction     *string `json:"Introduction"`
	FaceURL          *string `json:"FaceUrl"`
	Organization     *string `json:"Organization"`
	CustomString     *string `json:"CustomString"`
	MaxSubscriberNum *int64  `json:"MaxSubscriberNum"`
}

func (s *Server) create(w http.ResponseWriter, command string, body []byte) {
	var req createRequest
	if err := decodeStrict(body, &req); err != nil {
		s.bad(w, command, chatapi.CodeJSONParse, "body: %v", err)
		return
	}
	switch {
	case req.Owner == nil || trimmed(*req.Owner) == "":
		s.bad(w, command, chatapi.CodeInvalidParameter, "missing Owner_Account")
		return
	case req.Name == nil:
		s.bad(w, command, chatapi.CodeInvalidParameter, "missing Name")
		return
	case validName(*req.Name) != nil:
		s.bad(w, command, chatapi.CodeInvalidParameter, "%v", validName(*req.Name))
		return
	case req.UserID != nil && chatapi.ValidAccountID(*req.UserID) != nil:
		s.bad(w, command, chatapi.CodeOfficialAccountIDInvalid, "%v", chatapi.ValidAccountID(*req.UserID))
		return
	case req.MaxSubscriberNum != nil && *req.MaxSubscriberNum <= 0:
		s.bad(w, command, chatapi.CodeInvalidParameter, "MaxSubscriberNum %d is not positive", *req.MaxSubscriberNum)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	if req.UserID != nil {
		id = *req.UserID
	} else {
		s.generated++
		id = fmt.Sprintf("@TOA#_@TOA#%04d", s.generated)
	}
	if _, exists := s.accounts[id]; exists {
		writeFail(w, chatapi.CodeOfficialAccountIDInUse, "official account user ID is in use")
		return
	}
	a := Account{ID: id, Name: *req.Name, Owner: *req.Owner, MaxSubscriberNum: DefaultMaxSubscriberNum, CreateTime: s.now().Unix()}
	if req.Introduction != nil {
		a.Introduction = *req.Introduction
	}
	if req.MaxSubscriberNum != nil {
		a.MaxSubscriberNum = *req.MaxSubscriberNum
	}
	s.accounts[id] = a
	writeOK(w, map[string]any{"OfficialAccountUserID": id})
}
