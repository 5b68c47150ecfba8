package notify

import (
	"strconv"
	"strings"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/utf8cut"
)

// title is the heading of a message, e.g. "OA capacity full: ns/name".
func title(m Message) string {
	return "OA capacity " + m.Kind + ": " + m.Resource
}

// lines are the body of a message, one fact a line, the summary first.
func lines(m Message) []string {
	active := m.ActiveAccount
	if active == "" {
		active = "none"
	}
	ls := make([]string, 0, 8)
	if m.Text != "" {
		ls = append(ls, m.Text)
	}
	return append(ls,
		"Resource: "+m.Resource,
		"SDKAppID: "+strconv.FormatInt(m.AppID, 10),
		"Account: "+m.Account,
		"Action: "+m.Action,
		"Active account: "+active,
		"Time: "+m.Time.UTC().Format(time.RFC3339),
		"Event: "+m.ID,
	)
}

// plainText is title and lines, one a line.
func plainText(m Message) string {
	return title(m) + "\n" + strings.Join(lines(m), "\n")
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence;
// when it cuts, it ends the result with "…" (within the n bytes).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	if n < len(ellipsis) {
		return utf8cut.Cut(s, n)
	}
	return utf8cut.Cut(s, n-len(ellipsis)) + ellipsis
}
