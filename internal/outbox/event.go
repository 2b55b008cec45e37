package outbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/config"
)

// SequenceWidth is the digits of a rendered sequence: every int64 fits, and
// zero-padded numbers sort as text in number order.
const SequenceWidth = 20

// FormatSequence is a sequence as the CloudEvent's sequence attribute.
func FormatSequence(n int64) string { return fmt.Sprintf("%0*d", SequenceWidth, n) }

// Render is the queue message body of a row with sequence seq: the document
// as published, and for a CloudEvent (a JSON object with specversion) the
// attributes id, sequence and conversation where it lacks them (conversation
// only when the row has one). The document's own bytes are kept: the
// attributes are written right after its opening brace.
func Render(doc, messageID string, seq int64, conversation string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		if isJSONDocument(doc) {
			return []byte(doc), nil // an array: published as it is
		}
		return nil, fmt.Errorf("the message is not a JSON document")
	}
	if v, ok := top["specversion"]; !ok || string(bytes.TrimSpace(v)) == "null" {
		return []byte(doc), nil
	}
	var add []string
	attr := func(name, value string) {
		if _, ok := top[name]; ok {
			return
		}
		b, _ := json.Marshal(value)
		add = append(add, fmt.Sprintf("%q:%s", name, b))
	}
	attr("id", messageID)
	attr("sequence", FormatSequence(seq))
	if conversation != "" {
		attr("conversation", conversation)
	}
	if len(add) == 0 {
		return []byte(doc), nil
	}
	rest := strings.TrimLeft(doc, " \t\r\n")[1:] // after "{"; the object is not empty (it has specversion)
	return []byte("{" + strings.Join(add, ",") + "," + rest), nil
}

func isJSONDocument(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return t != "" && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t))
}

// MaxBodyBytes is the largest body whose base64 form fits in one queue
// message.
const MaxBodyBytes = broker.MaxMessageBytes / 4 * 3

// check returns why row can never be sent, or "" when it can. The size is
// the rendered one: the attributes the drain adds count.
func (s *Service) check(r catalog.OutboxRow) string {
	if err := config.ValidQueueName(r.Queue); err != nil {
		return fmt.Sprintf("queue %q is not a valid queue name (3-63 lowercase letters, digits and single dashes)", r.Queue)
	}
	if !slices.Contains(s.cfg.Allowed, r.Queue) {
		return fmt.Sprintf("queue %q is not in %s (%s)", r.Queue, config.SettingPublishQueues, strings.Join(s.cfg.Allowed, ", "))
	}
	body, err := Render(r.Message, r.MessageID, 1, r.ConversationID)
	if err != nil {
		return err.Error()
	}
	if n := base64.StdEncoding.EncodedLen(len(body)); n > broker.MaxMessageBytes {
		return fmt.Sprintf("the message is %d bytes as sent (%d as base64): a queue message holds %d; publish at most %d bytes",
			len(body), n, broker.MaxMessageBytes, MaxBodyBytes)
	}
	return ""
}
