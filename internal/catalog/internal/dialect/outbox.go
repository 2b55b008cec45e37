package dialect

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/config"
)

// Limits of OffloadOutbox's columns (sql: nvarchar(63), (200), (100)).
const (
	MaxConversationLen = 200
	MaxMessageIDLen    = 100
	// OutboxBatch bounds the rows one outbox statement names: each costs
	// up to three parameters (SQL Server allows 2100 per request).
	OutboxBatch = 500
)

// CheckOutboxMessage is dbo.usp_PublishMessage's argument check, for the
// embedded catalog: a storage queue name, a JSON object or array (ISJSON's
// rule on SQL Server 2019), a conversation id of at most 200 characters.
// The errors read as the procedure's THROW 50102 messages.
func CheckOutboxMessage(m catalog.OutboxMessage) error {
	if err := config.ValidQueueName(m.Queue); err != nil {
		return fmt.Errorf("usp_PublishMessage: @Queue must be a storage queue name (3-63 lowercase letters, digits and dashes): %w", err)
	}
	if !IsJSONDocument(m.Message) {
		return fmt.Errorf("usp_PublishMessage: @Message must be a JSON document")
	}
	if utf8.RuneCountInString(m.ConversationID) > MaxConversationLen {
		return fmt.Errorf("usp_PublishMessage: @ConversationId is longer than %d characters", MaxConversationLen)
	}
	return nil
}

// IsJSONDocument reports whether s is a JSON object or array.
func IsJSONDocument(s string) bool {
	t := bytes.TrimLeft([]byte(s), " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

// OutboxMessageID is the id a published message gets, as the procedure
// computes it: the CloudEvent's id when the document is an object with a
// specversion and an id (a string, or a number's text), else a new UUID.
func OutboxMessageID(doc string) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err == nil && top["specversion"] != nil && !isNull(top["specversion"]) {
		if id, ok := scalarText(top["id"]); ok {
			if utf8.RuneCountInString(id) > MaxMessageIDLen {
				return "", fmt.Errorf("usp_PublishMessage: the CloudEvent id is longer than %d characters", MaxMessageIDLen)
			}
			return id, nil
		}
	}
	return NewUUID(), nil
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// scalarText is a JSON string's value or a number's literal text.
func scalarText(r json.RawMessage) (string, bool) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s, true
	}
	if _, err := strconv.ParseFloat(string(r), 64); err == nil {
		return string(r), true
	}
	return "", false
}

// NewUUID is a random (version 4) UUID in the lowercase form NEWID() is
// usually converted to.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// CheckSequence validates SequenceOutboxParams.
func CheckSequence(p catalog.SequenceOutboxParams) error {
	if p.Token == "" || !p.Until.After(p.Now) {
		return fmt.Errorf("catalog: sequence outbox: a token and Until after Now are required")
	}
	if len(p.IDs) > OutboxBatch {
		return fmt.Errorf("catalog: sequence outbox: %d rows, at most %d per call", len(p.IDs), OutboxBatch)
	}
	return nil
}

// CheckOutboxClaim validates ClaimOutboxParams.
func CheckOutboxClaim(p catalog.ClaimOutboxParams) error {
	if p.Token == "" || !p.Until.After(p.Now) || p.Limit < 0 || p.Limit > OutboxBatch {
		return fmt.Errorf("catalog: claim outbox: a token, Until after Now and 0 <= Limit <= %d are required", OutboxBatch)
	}
	return nil
}

// Chunks splits xs into slices of at most n, keeping their order.
func Chunks[T any](xs []T, n int) [][]T {
	var out [][]T
	for len(xs) > 0 {
		k := min(n, len(xs))
		out = append(out, xs[:k])
		xs = xs[k:]
	}
	return out
}

// ScanIDText reads (bigint, text) rows into m and closes rows: the
// OutboxMessages answer, the same on both dialects.
func ScanIDText(rows *sql.Rows, m map[int64]string) error {
	defer rows.Close()
	for rows.Next() {
		var id int64
		var text string
		if err := rows.Scan(&id, &text); err != nil {
			return err
		}
		m[id] = text
	}
	return rows.Err()
}
