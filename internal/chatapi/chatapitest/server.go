// Package chatapitest is a fake Tencent Chat REST backend for tests.
//
// It runs on loopback (httptest), verifies every request's UserSig with the
// app key through chatapi.VerifyUserSig, checks every request's shape, keeps
// Official Accounts, their subscribers and sent messages in memory, and can
// be told to fail in the ways the real backend and the network do. It is
// safe for concurrent use.
//
// A request that breaks the protocol (wrong method, unknown path, a missing
// or bad query parameter, a body field missing, of the wrong type, unknown,
// or over a documented limit) gets a FAIL answer and is recorded; tests
// should end with len(s.Malformed()) == 0.
package chatapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// DefaultMaxSubscriberNum is what create_official_account uses when the
// request does not set MaxSubscriberNum, as documented.
const DefaultMaxSubscriberNum = 100000

const maxRequestBody = 1 << 20

// Account is an Official Account as the fake keeps it.
type Account struct {
	ID               string // OfficialAccountUserID
	Name             string // display name
	Owner            string // Owner_Account
	Introduction     string // profile text
	SubscriberNum    int64  // current subscribers; add_subscriber and SetSubscriberNum change it
	MaxSubscriberNum int64  // 0 in AddAccount means DefaultMaxSubscriberNum
	CreateTime       int64  // Unix seconds; 0 in AddAccount means now
}

// Message is a one-to-one message the fake accepted.
type Message struct {
	From      string // "" when the request had no From_Account
	To        string // To_Account
	Text      string // the TIMTextElem texts, joined
	MsgRandom uint32 // as sent by the client
	MsgKey    string // as answered
	MsgTime   int64  // Unix seconds, as answered
}

// Request is a request as it arrived, before any check.
type Request struct {
	Method  string     // HTTP method
	Service string     // "" when the path was not a known one
	Command string     // "" when the path was not a known one
	Query   url.Values // the query as sent, usersig included
	Body    []byte     // the raw body
}

// Malformed is a request that broke the protocol, and why.
type Malformed struct {
	Command string // the command, or the path when it was not a known one
	Reason  string // what was wrong
}

type faultKind int

const (
	faultCode faultKind = iota
	faultHTTP
	faultDrop
	faultNonJSON
	faultTruncate
	faultLoseAnswer
)

type fault struct {
	kind   faultKind
	code   int
	info   string
	status int
}

type hold struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// TB is what the fake needs of a test: testing.TB has it, and so can a program that
// serves the fake outside a test (make run's local mode).
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is the fake backend. Create it with NewServer or NewServerOn.
type Server struct {
	t     TB
	srv   *httptest.Server
	appID int64
	admin string
	key   string

	mu        sync.Mutex
	now       func() time.Time
	returnMax bool
	accounts  map[string]Account
	generated int
	msgSeq    int
	messages  []Message
	requests  []Request
	calls     map[string]int
	malformed []Malformed
	faults    map[string][]fault
	holds     map[string]*hold
	noRecord  bool
	onRead    func(id string, at time.Time)

	// Subscribers (subscriber.go).
	subs      map[string]*subscribers
	subMemory int
	onFull    func(account string, eventTime time.Time)
	hooks     sync.WaitGroup
}

// NewServer starts a fake backend for one app on a loopback port. Requests must be
// signed with secretKey for adminIdentifier. It is closed when the test ends.
func NewServer(t testing.TB, sdkAppID int64, adminIdentifier, secretKey string) *Server {
	t.Helper()
	return NewServerOn(t, nil, sdkAppID, adminIdentifier, secretKey)
}

// NewServerOn is NewServer on a listener of the caller's (nil: a loopback port), for a
// fake at a known address. It is closed at t's cleanup.
func NewServerOn(t TB, l net.Listener, sdkAppID int64, adminIdentifier, secretKey string) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		appID:     sdkAppID,
		admin:     adminIdentifier,
		key:       secretKey,
		now:       time.Now,
		accounts:  map[string]Account{},
		calls:     map[string]int{},
		faults:    map[string][]fault{},
		holds:     map[string]*hold{},
		subs:      map[string]*subscribers{},
		subMemory: DefaultSubscriberMemory,
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	if l != nil {
		_ = s.srv.Listener.Close()
		s.srv.Listener = l
	}
	s.srv.Start()
	t.Cleanup(func() {
		s.releaseAll() // Close waits for held requests
		s.srv.Close()
		s.hooks.Wait() // no OnFull call outlives the server
	})
	return s
}

// URL is the base URL to use as chatapi.Config.Endpoint.
func (s *Server) URL() string { return s.srv.URL }

// HTTPClient returns a client for this server.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// ClientConfig returns a chatapi.Config with the right app, admin, key,
// endpoint and HTTP client; a test sets the clock and limits it needs.
func (s *Server) ClientConfig() chatapi.Config {
	return chatapi.Config{
		SDKAppID:        s.appID,
		AdminIdentifier: s.admin,
		SecretKey:       s.key,
		Endpoint:        s.URL(),
		HTTPClient:      s.HTTPClient(),
	}
}

// SetClock sets the clock used to check UserSig expiry and to stamp messages
// and new accounts; tests with a virtual clock share it with the client.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// ReturnMaxSubscriberNum makes get_official_account_info answers include
// MaxSubscriberNum. Off by default, because whether Tencent returns it is
// unconfirmed and code must work without it.
func (s *Server) ReturnMaxSubscriberNum(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.returnMax = on
}

// AddAccount adds or replaces an account. Its subscribers are anonymous: a
// replaced account's remembered subscribers and refusals are forgotten.
func (s *Server) AddAccount(a Account) {
	s.t.Helper()
	if a.ID == "" {
		s.t.Fatalf("chatapitest: AddAccount with an empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.MaxSubscriberNum == 0 {
		a.MaxSubscriberNum = DefaultMaxSubscriberNum
	}
	if a.CreateTime == 0 {
		a.CreateTime = s.now().Unix()
	}
	s.accounts[a.ID] = a
	delete(s.subs, a.ID)
}

// Account returns the account with id and whether it exists.
func (s *Server) Account(id string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	return a, ok
}

// Accounts returns all accounts, sorted by ID.
func (s *Server) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SetSubscriberNum sets an existing account's subscriber count, as if
// anonymous users had subscribed or left; below the number of subscribers the
// fake remembers, it forgets them all. It never triggers OnFull. Call it from
// the test goroutine: an unknown account fails the test.
func (s *Server) SetSubscriberNum(id string, n int64) {
	s.t.Helper()
	s.mu.Lock()
	a, ok := s.accounts[id]
	if ok {
		a.SubscriberNum = n
		s.accounts[id] = a
		s.forgetSubscribers(id, n)
	}
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("chatapitest: SetSubscriberNum of unknown account %q", id)
	}
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests returns every request received so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r
		out[i].Query = cloneValues(r.Query)
		out[i].Body = bytes.Clone(r.Body)
	}
	return out
}

// RecordRequests turns the recording of requests (Requests) on or off; it is
// on by default. A program that serves the fake for long (a load harness, make
// run's local mode) turns it off, so that memory does not grow with every
// call; Calls still counts.
func (s *Server) RecordRequests(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRecord = !on
}

// OnRead calls f with each account get_official_account_info answers for, and when:
// a load test learns from it how often each account is read. f runs under the
// server's lock: it must not call the server.
func (s *Server) OnRead(f func(id string, at time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRead = f
}

// Calls returns how many requests reached command (e.g. "sendmsg"),
// whatever their outcome.
func (s *Server) Calls(command string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[command]
}

// TotalCalls returns how many requests arrived in all.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// Malformed returns the requests that broke the protocol.
func (s *Server) Malformed() []Malformed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Malformed(nil), s.malformed...)
}

// FailNext makes the next n well-formed, correctly signed calls of command
// answer ActionStatus FAIL with code and info.
func (s *Server) FailNext(command string, n, code int, info string) {
	s.addFaults(command, n, fault{kind: faultCode, code: code, info: info})
}

// FailNextHTTP makes the next n calls of command answer an HTTP status
// (e.g. 500, 429) with a plain-text body, as a gateway would.
func (s *Server) FailNextHTTP(command string, n, status int) {
	s.addFaults(command, n, fault{kind: faultHTTP, status: status})
}

// DropNext makes the next n calls of command lose their connection: it is
// closed without an answer.
func (s *Server) DropNext(command string, n int) {
	s.addFaults(command, n, fault{kind: faultDrop})
}

// NonJSONNext makes the next n calls of command answer HTTP 200 with a body
// that is not JSON.
func (s *Server) NonJSONNext(command string, n int) {
	s.addFaults(command, n, fault{kind: faultNonJSON})
}

// TruncateNext makes the next n calls of command answer HTTP 200 with a
// Content-Length longer than the body, then close: the body is cut short.
func (s *Server) TruncateNext(command string, n int) {
	s.addFaults(command, n, fault{kind: faultTruncate})
}

// LoseAnswerNext makes the next n calls of command take effect and then lose
// their answer (the connection is closed): the case where a client cannot
// tell whether its call happened, and a retry must not do it twice.
func (s *Server) LoseAnswerNext(command string, n int) {
	s.addFaults(command, n, fault{kind: faultLoseAnswer})
}

func (s *Server) addFaults(command string, n int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[command] = append(s.faults[command], f)
	}
}

// Hold makes calls of command wait, after their checks, until release is
// called or the client gives up. Each call that starts waiting sends on
// arrived (buffered; sends are dropped when it is full), so a test can wait
// for a request to be in flight without sleeping. release is idempotent;
// later calls are not held.
func (s *Server) Hold(command string) (arrived <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holds[command]
	if h == nil {
		h = &hold{arrived: make(chan struct{}, 64), release: make(chan struct{})}
		s.holds[command] = h
	}
	return h.arrived, func() {
		h.once.Do(func() { close(h.release) })
		s.mu.Lock()
		if s.holds[command] == h {
			delete(s.holds, command)
		}
		s.mu.Unlock()
	}
}

func (s *Server) releaseAll() {
	s.mu.Lock()
	hs := s.holds
	s.holds = map[string]*hold{}
	s.mu.Unlock()
	for _, h := range hs {
		h.once.Do(func() { close(h.release) })
	}
}

// knownCommand maps the paths the fake serves to their service and command.
func knownCommand(path string) (service, command string, ok bool) {
	switch path {
	case "/v4/" + chatapi.ServiceOfficialAccount + "/" + chatapi.CommandGetOfficialAccountInfo:
		return chatapi.ServiceOfficialAccount, chatapi.CommandGetOfficialAccountInfo, true
	case "/v4/" + chatapi.ServiceOfficialAccount + "/" + chatapi.CommandModifyOfficialAccount:
		return chatapi.ServiceOfficialAccount, chatapi.CommandModifyOfficialAccount, true
	case "/v4/" + chatapi.ServiceOfficialAccount + "/" + chatapi.CommandCreateOfficialAccount:
		return chatapi.ServiceOfficialAccount, chatapi.CommandCreateOfficialAccount, true
	case "/v4/" + chatapi.ServiceOfficialAccount + "/" + chatapi.CommandAddSubscriber:
		return chatapi.ServiceOfficialAccount, chatapi.CommandAddSubscriber, true
	case "/v4/" + chatapi.ServiceOfficialAccount + "/" + CommandDeleteSubscriber:
		return chatapi.ServiceOfficialAccount, CommandDeleteSubscriber, true
	case "/v4/" + chatapi.ServiceOpenIM + "/" + chatapi.CommandSendMsg:
		return chatapi.ServiceOpenIM, chatapi.CommandSendMsg, true
	}
	return "", "", false
}

// failure is a FAIL answer to send.
type failure struct {
	code int
	info string
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	service, command, known := knownCommand(r.URL.Path)
	name := command
	if !known {
		name = r.URL.Path
	}
	s.mu.Lock()
	s.calls[name]++
	if !s.noRecord {
		s.requests = append(s.requests, Request{Method: r.Method, Service: service, Command: command,
			Query: cloneValues(r.URL.Query()), Body: bytes.Clone(body)})
	}
	s.mu.Unlock()

	if f := s.checkRequest(r, known, body, readErr); f != nil {
		s.recordMalformed(name, f.info)
		writeFail(w, f.code, f.info)
		return
	}
	if f := s.checkUserSig(r.URL.Query().Get("usersig")); f != nil {
		writeFail(w, f.code, f.info)
		return
	}
	if !s.waitHold(r, command) {
		return
	}
	f, ok := s.nextFault(command)
	if ok && f.kind != faultLoseAnswer {
		s.injectFault(w, f)
		return
	}
	target := w
	if ok { // run the command, then drop its answer
		target = httptest.NewRecorder()
	}
	switch command {
	case chatapi.CommandGetOfficialAccountInfo:
		s.getInfo(target, name, body)
	case chatapi.CommandModifyOfficialAccount:
		s.modify(target, name, body)
	case chatapi.CommandCreateOfficialAccount:
		s.create(target, name, body)
	case chatapi.CommandAddSubscriber:
		s.addSubscriber(target, name, body)
	case CommandDeleteSubscriber:
		s.deleteSubscriber(target, name, body)
	case chatapi.CommandSendMsg:
		s.sendMsg(target, name, body)
	}
	if ok {
		s.closeConn(w)
	}
}

func (s *Server) recordMalformed(command, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed = append(s.malformed, Malformed{Command: command, Reason: reason})
}

// checkRequest checks method, path, query and body size.
func (s *Server) checkRequest(r *http.Request, known bool, body []byte, readErr error) *failure {
	if r.Method != http.MethodPost {
		return &failure{chatapi.CodeHTTPParse, "method " + r.Method + ", want POST"}
	}
	if !known {
		return &failure{chatapi.CodeRequestResource, "unknown path " + r.URL.Path}
	}
	if readErr != nil || len(body) > maxRequestBody {
		return &failure{chatapi.CodeHTTPParse, "request body unreadable or over 1 MiB"}
	}
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "sdkappid", "identifier", "usersig", "random", "contenttype":
			if len(v) != 1 {
				return &failure{chatapi.CodeHTTPParse, fmt.Sprintf("query parameter %s given %d times", k, len(v))}
			}
		default:
			return &failure{chatapi.CodeHTTPParse, "unexpected query parameter " + k}
		}
	}
	for _, k := range []string{"sdkappid", "identifier", "usersig", "random", "contenttype"} {
		if q.Get(k) == "" {
			return &failure{chatapi.CodeHTTPParse, "missing query parameter " + k}
		}
	}
	if q.Get("contenttype") != "json" {
		return &failure{chatapi.CodeHTTPParse, "contenttype is " + q.Get("contenttype") + ", want json"}
	}
	if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
		return &failure{chatapi.CodeHTTPParse, "random is not a 32-bit unsigned integer"}
	}
	if q.Get("sdkappid") != strconv.FormatInt(s.appID, 10) {
		return &failure{chatapi.CodeUserSigAppIDMismatch, "sdkappid is not this app's"}
	}
	if q.Get("identifier") != s.admin {
		return &failure{chatapi.CodeAdminRequired, "identifier is not the App admin"}
	}
	return nil
}

// checkUserSig answers like Tencent for each way a UserSig can be wrong. A
// bad signature is not a malformed request: it is what a wrong key gives.
func (s *Server) checkUserSig(sig string) *failure {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	err := chatapi.VerifyUserSig(s.appID, s.key, s.admin, sig, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, chatapi.ErrUserSigExpired):
		return &failure{chatapi.CodeUserSigExpired, "UserSig expired"}
	case errors.Is(err, chatapi.ErrUserSigWrongIdentifier):
		return &failure{chatapi.CodeUserSigIdentifierMismatch, "identifier differs from the UserSig's"}
	case errors.Is(err, chatapi.ErrUserSigWrongApp):
		return &failure{chatapi.CodeUserSigAppIDMismatch, "sdkappid differs from the UserSig's"}
	case errors.Is(err, chatapi.ErrUserSigBadSignature):
		return &failure{chatapi.CodeUserSigVerifyFailed, "UserSig verification failed"}
	}
	return &failure{chatapi.CodeUserSigInvalid, "illegal UserSig"}
}

// waitHold blocks a held command; false means the client went away.
func (s *Server) waitHold(r *http.Request, command string) bool {
	s.mu.Lock()
	h := s.holds[command]
	s.mu.Unlock()
	if h == nil {
		return true
	}
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
		return true
	case <-r.Context().Done():
		return false
	}
}

// nextFault pops the next queued fault of command, if any.
func (s *Server) nextFault(command string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[command]
	if len(q) == 0 {
		return fault{}, false
	}
	s.faults[command] = q[1:]
	return q[0], true
}

// injectFault answers in place of the command as f says.
func (s *Server) injectFault(w http.ResponseWriter, f fault) {
	switch f.kind {
	case faultCode:
		writeFail(w, f.code, f.info)
	case faultHTTP:
		http.Error(w, http.StatusText(f.status), f.status)
	case faultNonJSON:
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	case faultDrop:
		s.closeConn(w)
	case faultTruncate:
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			s.t.Errorf("chatapitest: hijack: %v", err)
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"ActionStatus\":\"OK\",\"Err")
		_ = buf.Flush()
		_ = conn.Close()
	}
}

// closeConn closes the connection without an answer.
func (s *Server) closeConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.t.Errorf("chatapitest: hijack: %v", err)
		return
	}
	_ = conn.Close()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeFail(w http.ResponseWriter, code int, info string) {
	writeJSON(w, map[string]any{"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})
}

func writeOK(w http.ResponseWriter, extra map[string]any) {
	m := map[string]any{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
	for k, v := range extra {
		m[k] = v
	}
	writeJSON(w, m)
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data, so that a misspelt field is caught.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

func (s *Server) bad(w http.ResponseWriter, command string, code int, format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	s.recordMalformed(command, reason)
	writeFail(w, code, reason)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func validName(name string) error {
	if name == "" || len(name) > chatapi.MaxAccountNameBytes {
		return fmt.Errorf("the Name is %d bytes, want 1..%d", len(name), chatapi.MaxAccountNameBytes)
	}
	return nil
}

func trimmed(s string) string { return strings.TrimSpace(s) }
