// Package notify sends the operator's capacity events to people: Slack, WeCom
// (企业微信) and DingTalk (钉钉) group robots, Feishu/Lark custom bots, a generic
// signed JSON webhook, and Tencent Cloud Chat one-to-one messages.
//
// It is a plain library with no Kubernetes types. New turns a Config into a
// Notifier; Send delivers one Message. The clock and sleeping are injected
// through Config so that tests run the retry logic instantly.
//
// # Delivery
//
// Every HTTP target is a POST of a JSON body. Each attempt has its own timeout
// (Config.AttemptTimeout). Network errors, HTTP 429 and 5xx, a 2xx answer that
// is not JSON where JSON is expected, and the providers' "rate limited" codes
// inside a 200 (WeCom errcode 45009, DingTalk errcode 130101) are retried with
// exponential backoff and equal jitter; a Retry-After header (seconds or an
// HTTP date) is honoured, capped at Config.MaxBackoff. Other 4xx answers and
// other non-zero codes are permanent. Redirects are not followed. At most
// 64 KiB of an answer is read. Signatures and timestamps are made afresh for
// every attempt.
//
// Failures are *Error values (IsPermanent tells whether trying again later
// can help). No error, and no Config or Notifier formatted with fmt, contains
// the URL's path or query (where providers put the robot's key or token) or
// the signing key.
//
// # Provider formats
//
//   - slack: {"text": ...} with Slack's &, < and > escaped; any 2xx is success.
//   - wecom: {"msgtype":"markdown","markdown":{"content":...}}, the content
//     cut to 4096 bytes on a UTF-8 boundary; success when errcode is 0.
//   - dingtalk: {"msgtype":"markdown","markdown":{"title":...,"text":...}};
//     with a SigningKey the URL gets &timestamp=<ms>&sign=<sign>, where sign is
//     URL-encode(base64(HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret)));
//     success when errcode is 0.
//   - feishu: a "post" (rich text) message:
//     {"msg_type":"post","content":{"post":{"zh_cn":{"title":...,"content":[[{"tag":"text","text":...}],...]}}}},
//     one paragraph a line; with a SigningKey the body also has top-level
//     "timestamp" (seconds, a string) and "sign" =
//     base64(HMAC-SHA256(key=timestamp+"\n"+secret, msg="")). Success when
//     code (or, in older answers, StatusCode) is 0. "post" was chosen over an
//     "interactive" card because its plain "text" tags need no markdown
//     escaping and its shape has been stable for years.
//   - chat: one Tencent Cloud Chat text message from Config.From to each of
//     Config.ToAccounts. Within one Send, recipients already reached are not
//     sent to again when a retry is needed. The ChatSender's own timeouts and
//     retries apply; AttemptTimeout does not.
//   - webhook: the generic schema below.
//
// # Generic webhook
//
// The body is a JSON object whose fields are always all present:
//
//	{
//	  "id":            "ns/name/account/1717228800000/full", // stable event ID: drop repeats
//	  "kind":          "full",          // full, repeat, exhausted or recovered
//	  "sdkAppID":      1400000001,      // a number
//	  "account":       "oa_1",          // the account the event is about
//	  "resource":      "ns/name",       // namespace/name of the resource
//	  "time":          "2024-06-01T08:00:00Z", // RFC 3339, UTC, seconds
//	  "action":        "switched to oa_2",     // what the operator did
//	  "activeAccount": "oa_2",          // "" when none
//	  "text":          "one-line summary"
//	}
//
// Headers: Content-Type: application/json and X-OAC-Event-ID: <id>. With a
// SigningKey also X-OAC-Timestamp: <unix seconds> and
// X-OAC-Signature: sha256=<hex>, the lowercase hex HMAC-SHA256 with the key
// of timestamp + "." + the raw body (see WebhookSignature). A receiver
// recomputes it over the bytes it received, compares in constant time, and
// rejects timestamps far from its clock. A retried delivery has the same id
// and body but a new timestamp and signature.
package notify
