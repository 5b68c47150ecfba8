package chatapitest

import (
	"net/http"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// CommandDeleteSubscriber unsubscribes users. The client has no method for it;
// tests and tools call it by hand.
const CommandDeleteSubscriber = "delete_subscriber"

// DefaultSubscriberMemory is how many subscriber IDs the fake remembers per
// account unless SetSubscriberMemory says otherwise.
const DefaultSubscriberMemory = 10000

// subscribers is what the fake keeps of an account's subscribers besides its
// count (Account.SubscriberNum): the IDs it remembers, at most subMemory of
// them, and how many subscriptions it refused.
//
// The count is the truth. Subscribers the fake does not remember are
// anonymous: those of SetSubscriberNum and AddAccount, and those added once
// the memory was full. So memory stays bounded whatever the load, and:
//   - add_subscriber answers 2 (already subscribed) only for a remembered ID;
//     an anonymous subscriber added again is counted again;
//   - delete_subscriber of an ID it does not remember removes an anonymous
//     subscriber when there is one (1), else answers 2 (not subscribed).
type subscribers struct {
	known   map[string]struct{}
	refused int64
}

// subsOf returns the subscriber state of an account; s.mu is held.
func (s *Server) subsOf(id string) *subscribers {
	st := s.subs[id]
	if st == nil {
		st = &subscribers{known: map[string]struct{}{}}
		s.subs[id] = st
	}
	return st
}

// SetSubscriberMemory sets how many subscriber IDs the fake remembers per
// account (default DefaultSubscriberMemory; 0 remembers none, so that only
// counts are kept). See add_subscriber's Result 2 above for what it changes.
func (s *Server) SetSubscriberMemory(perAccount int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subMemory = max(perAccount, 0)
}

// OnFull sets a function called when add_subscriber makes an account reach its
// limit (SubscriberNum reaches MaxSubscriberNum), as Chat then sends
// OfficialAccount.CallbackAfterOfficialAccountFull; eventTime is the fake's
// clock at that moment. It runs on a goroutine of its own after the
// subscription, as Chat's callback is not part of the REST answer; the server
// waits for it at cleanup. Only add_subscriber triggers it, not
// SetSubscriberNum or a lower limit. nil turns it off.
func (s *Server) OnFull(f func(account string, eventTime time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onFull = f
}

// Refused returns how many subscriptions to account add_subscriber refused
// because the account was full.
func (s *Server) Refused(account string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.subs[account]; st != nil {
		return st.refused
	}
	return 0
}

// Subscribed reports whether the fake remembers subscriber as a subscriber of
// account (see SetSubscriberMemory).
func (s *Server) Subscribed(account, subscriber string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.subs[account]; st != nil {
		_, ok := st.known[subscriber]
		return ok
	}
	return false
}

type subscriberRef struct {
	Subscriber *string `json:"Subscriber_Account"`
}

type addSubscriberRequest struct {
	Account     *string         `json:"Official_Account"`
	Subscribers []subscriberRef `json:"SubscriberList"`
}

// subscriberResult is an item of the answers of add_subscriber and
// delete_subscriber.
type subscriberResult struct {
	Subscriber string `json:"Subscriber_Account"`
	Result     int    `json:"Result"`
}

// checkSubscriberRequest checks the account and the list of an add or delete request.
func (s *Server) checkSubscriberRequest(w http.ResponseWriter, command string, account *string, field string, ids []*string) bool {
	if account == nil || trimmed(*account) == "" {
		s.bad(w, command, chatapi.CodeInvalidParameter, "missing Official_Account")
		return false
	}
	if n := len(ids); n == 0 || n > chatapi.MaxSubscribersPerCall {
		s.bad(w, command, chatapi.CodeInvalidParameter, "%s has %d items, want 1..%d", field, n, chatapi.MaxSubscribersPerCall)
		return false
	}
	for i, id := range ids {
		if id == nil || trimmed(*id) == "" {
			s.bad(w, command, chatapi.CodeInvalidParameter, "%s[%d] has no Subscriber_Account", field, i)
			return false
		}
	}
	return true
}

func (s *Server) addSubscriber(w http.ResponseWriter, command string, body []byte) {
	var req addSubscriberRequest
	if err := decodeStrict(body, &req); err != nil {
		s.bad(w, command, chatapi.CodeJSONParse, "body: %v", err)
		return
	}
	ids := make([]*string, len(req.Subscribers))
	for i, ref := range req.Subscribers {
		ids[i] = ref.Subscriber
	}
	if !s.checkSubscriberRequest(w, command, req.Account, "SubscriberList", ids) {
		return
	}
	s.mu.Lock()
	a, ok := s.accounts[*req.Account]
	if !ok {
		s.mu.Unlock()
		writeFail(w, chatapi.CodeOfficialAccountNotFound, "official account does not exist")
		return
	}
	st := s.subsOf(a.ID)
	results := make([]subscriberResult, len(ids))
	filled := false
	for i, id := range ids {
		results[i].Subscriber = *id
		switch _, known := st.known[*id]; {
		case known:
			results[i].Result = int(chatapi.SubscribeAlreadySubscribed)
		case a.SubscriberNum >= a.MaxSubscriberNum:
			results[i].Result = int(chatapi.SubscribeFailed)
			st.refused++
		default:
			a.SubscriberNum++
			if len(st.known) < s.subMemory {
				st.known[*id] = struct{}{}
			}
			results[i].Result = int(chatapi.SubscribeAdded)
			filled = filled || a.SubscriberNum == a.MaxSubscriberNum
		}
	}
	s.accounts[a.ID] = a
	hook, at := s.onFull, s.now()
	s.mu.Unlock()
	if filled && hook != nil {
		// Added in the handler, which cleanup's srv.Close waits for: the
		// Wait after it sees every hook.
		s.hooks.Go(func() { hook(a.ID, at) })
	}
	writeOK(w, map[string]any{"SubscriberList": results})
}

// deleteSubscriberRequest takes both shapes Tencent's page shows: its sample
// sends SubscriberToDel_Account, a list of IDs; its field table names
// SubscriberList as in add_subscriber. Exactly one must be given.
type deleteSubscriberRequest struct {
	Account     *string         `json:"Official_Account"`
	ToDelete    []*string       `json:"SubscriberToDel_Account"`
	Subscribers []subscriberRef `json:"SubscriberList"`
}

func (s *Server) deleteSubscriber(w http.ResponseWriter, command string, body []byte) {
	var req deleteSubscriberRequest
	if err := decodeStrict(body, &req); err != nil {
		s.bad(w, command, chatapi.CodeJSONParse, "body: %v", err)
		return
	}
	ids, field := req.ToDelete, "SubscriberToDel_Account"
	switch {
	case req.ToDelete != nil && req.Subscribers != nil:
		s.bad(w, command, chatapi.CodeInvalidParameter, "both SubscriberToDel_Account and SubscriberList")
		return
	case req.Subscribers != nil:
		ids, field = make([]*string, len(req.Subscribers)), "SubscriberList"
		for i, ref := range req.Subscribers {
			ids[i] = ref.Subscriber
		}
	}
	if !s.checkSubscriberRequest(w, command, req.Account, field, ids) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[*req.Account]
	if !ok {
		writeFail(w, chatapi.CodeOfficialAccountNotFound, "official account does not exist")
		return
	}
	st := s.subsOf(a.ID)
	results := make([]subscriberResult, len(ids))
	for i, id := range ids {
		results[i] = subscriberResult{Subscriber: *id, Result: 1}
		_, known := st.known[*id]
		switch {
		case known:
			delete(st.known, *id)
			a.SubscriberNum--
		case a.SubscriberNum > int64(len(st.known)): // one of the anonymous
			a.SubscriberNum--
		default:
			results[i].Result = 2 // not subscribed
		}
	}
	s.accounts[a.ID] = a
	writeOK(w, map[string]any{"SubscriberList": results})
}

// forgetSubscribers drops what the fake remembers of account's subscribers
// when its count no longer covers them; s.mu is held.
func (s *Server) forgetSubscribers(id string, count int64) {
	if st := s.subs[id]; st != nil && int64(len(st.known)) > count {
		st.known = map[string]struct{}{}
	}
}
