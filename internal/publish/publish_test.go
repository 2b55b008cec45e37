package publish

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/files"
)

var (
	// az is the test binary's Azurite, started by the first test that needs it.
	az  azuritetest.Shared
	seq atomic.Int64
)

func TestMain(m *testing.M) { az.Main(m) }

type harness struct {
	t      *testing.T
	broker *broker.Client
	raw    *azqueue.ServiceClient
	url    string
	queue  string // allowed, fresh for this test
}

func setup(t *testing.T) *harness {
	t.Helper()
	srv := az.Get(t)
	st := config.Storage{ConnectionString: srv.ConnectionString}
	b, err := broker.New(st, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := azqueue.NewServiceClientFromConnectionString(srv.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, broker: b, raw: raw, queue: fmt.Sprintf("neo4j-sync-%d", seq.Add(1))}
	svc := New(Config{Broker: b, Allowed: []string{h.queue, "other-queue"}})
	e := echo.New()
	e.Any("/api/messages/:queue", svc.Handler())
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

// post sends body as Azure SQL's sp_invoke_external_rest_endpoint does.
func (h *harness) post(queue, body string, mod ...func(*http.Request)) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/messages/"+queue, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-functions-key", "test-function-key")
	for _, m := range mod {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// peekText returns the raw text of the queue's messages (nil when the queue
// does not exist).
func (h *harness) peekText(queue string) []string {
	h.t.Helper()
	resp, err := h.raw.NewQueueClient(queue).PeekMessages(context.Background(), &azqueue.PeekMessagesOptions{NumberOfMessages: ptr(int32(32))})
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range resp.Messages {
		out = append(out, *m.MessageText)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

const event = `{"specversion":"1.0","id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","source":"/hartonomous/dbo/Atoms",` +
	`"type":"hartonomous.atom.created","time":"2025-01-02T03:04:05.1234567Z","subject":"42",` +
	`"datacontenttype":"application/json","data":{"atomId":42,"contentHash":"9d507a36","modality":"model"}}`

func TestPublishRoundTrip(t *testing.T) {
	h := setup(t)
	status, body := h.post(h.queue, event)
	if status != http.StatusCreated {
		t.Fatalf("publish: %d %s", status, body)
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil || resp.Queue != h.queue || resp.MessageID == "" {
		t.Fatalf("answer %s: %v", body, err)
	}

	// usp_PublishMessageNow reads the id with JSON_VALUE(@response,
	// '$.result.messageId') from sp_invoke_external_rest_endpoint's wrapper.
	const path = "$.result.messageId"
	if !slices.Contains(files.ResponsePaths, path) {
		t.Fatalf("files.ResponsePaths lacks %s", path)
	}
	var wrapped struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal([]byte(`{"response":{"status":{"http":{"code":201}}},"result":`+string(body)+`}`), &wrapped); err != nil ||
		wrapped.Result["messageId"] != resp.MessageID {
		t.Fatalf("%s of the wrapped answer = %v, %v", path, wrapped.Result["messageId"], err)
	}

	// On the wire the message is base64, as the Functions queue trigger
	// expects by default.
	texts := h.peekText(h.queue)
	if len(texts) != 1 || texts[0] != base64.StdEncoding.EncodeToString([]byte(event)) {
		t.Fatalf("wire text = %q", texts)
	}
	msgs, err := h.broker.Receive(context.Background(), h.queue, 1, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(msgs))
	}
	if string(msgs[0].Body) != event || msgs[0].ID != resp.MessageID {
		t.Fatalf("received %s %q", msgs[0].ID, msgs[0].Body)
	}

	// The largest body that fits: its base64 is exactly 64 KiB.
	big := `{"pad":"` + strings.Repeat("x", MaxBodyBytes-10) + `"}`
	if status, body := h.post(h.queue, big); status != http.StatusCreated {
		t.Fatalf("body of %d bytes: %d %s", len(big), status, body)
	}
}

func TestPublishRefusals(t *testing.T) {
	h := setup(t)
	tooBig := `{"pad":"` + strings.Repeat("x", MaxBodyBytes-9) + `"}`
	chunked := func(r *http.Request) { r.ContentLength = -1; r.Body = io.NopCloser(strings.NewReader(tooBig)) }
	for _, tc := range []struct {
		name, queue, body string
		mod               func(*http.Request)
		status            int
		code              string
	}{
		{"queue not allowed", "segment-migration", event, nil, 403, CodeQueueNotAllowed},
		{"invalid queue name", "Bad_Queue", event, nil, 400, CodeInvalidQueue},
		{"queue name too short", "ab", event, nil, 400, CodeInvalidQueue},
		{"queue name with dots", "..", event, nil, 400, CodeInvalidQueue},
		{"not JSON", h.queue, "SEND ON CONVERSATION @h", nil, 400, CodeNotJSON},
		{"truncated JSON", h.queue, event[:len(event)-1], nil, 400, CodeNotJSON},
		{"empty body", h.queue, "", nil, 400, CodeNotJSON},
		{"too big", h.queue, tooBig, nil, 413, CodeTooLarge},
		{"too big, chunked", h.queue, "", chunked, 413, CodeTooLarge},
		{"text/plain", h.queue, event, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, 415, CodeMediaType},
		{"GET", h.queue, "", func(r *http.Request) { r.Method = http.MethodGet }, 405, CodeMethod},
	} {
		var mods []func(*http.Request)
		if tc.mod != nil {
			mods = append(mods, tc.mod)
		}
		status, body := h.post(tc.queue, tc.body, mods...)
		var e struct{ Error, Code string }
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}
	// Nothing reached any queue, and no queue was created.
	for _, q := range []string{h.queue, "segment-migration"} {
		if texts := h.peekText(q); len(texts) != 0 {
			t.Errorf("queue %s holds %q", q, texts)
		}
	}
	if _, err := h.raw.NewQueueClient(h.queue).GetProperties(context.Background(), nil); err == nil {
		t.Errorf("queue %s was created by refused requests", h.queue)
	}
}
