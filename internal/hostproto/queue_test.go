package hostproto_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/hostproto"
)

func TestQueueMessage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		binding string
		want    string
		wantErr bool // one key unreadable
	}{
		{"double-encoded (host default)", queueDoubleEncoded, "msg", `{"segmentId":1}`, false},
		{"double-encoded, dequeue count number", queueDequeueNumber, "msg", `{"segmentId":2}`, false},
		{"binary base64", queueBinary, "msg", `{"segmentId":1}`, false},
		{"plain object", queueObject, "msg", `{"segmentId":1}`, false},
		{"single-encoded JSON text", queueSingleEncoded, "msg", `{"segmentId":1}`, false},
		{"binding name case-insensitive", queueDoubleEncoded, "MSG", `{"segmentId":1}`, false},
		{"double-encoded plain text", `{"Data":{"msg":"\"hello world\""}}`, "msg", `hello world`, false},
		{"double-encoded base64-looking text stays text", `{"Data":{"msg":"\"eyJzZWdtZW50SWQiOjF9\""}}`, "msg", `eyJzZWdtZW50SWQiOjF9`, false},
		{"double-encoded with unicode escapes", `{"Data":{"msg":"\"{\\\"name\\\":\\\"caf\\u00e9\\\"}\""}}`, "msg", `{"name":"café"}`, false},
		{"base64 with padding", `{"Data":{"msg":"eyJzZWdtZW50SWQiOjEyfQ=="}}`, "msg", `{"segmentId":12}`, false},
		{"array", `{"Data":{"msg":[1,2]}}`, "msg", `[1,2]`, false},
		{"empty string is an empty message", `{"Data":{"msg":""}}`, "msg", ``, false},
		{"single-encoded number text", `{"Data":{"msg":"123"}}`, "msg", `123`, false},

		{"missing binding", queueDoubleEncoded, "message", "", true},
		{"empty Data", `{"Data":{}}`, "msg", "", true},
		{"null", `{"Data":{"msg":null}}`, "msg", "", true},
		{"number", `{"Data":{"msg":1}}`, "msg", "", true},
		{"boolean", `{"Data":{"msg":true}}`, "msg", "", true},
		{"bad base64 (truncated)", `{"Data":{"msg":"eyJzZWdtZW50SWQiOjF"}}`, "msg", "", true},
		{"bad base64 (bad padding bits)", `{"Data":{"msg":"eyJzZWdtZW50SWQiOjF9ZB=="}}`, "msg", "", true},
		{"neither JSON nor base64", `{"Data":{"msg":"not base64!"}}`, "msg", "", true},
		{"JS object literal (docs sample)", `{"Data":{"msg":"{ message: \"Message sent\" }"}}`, "msg", "", true},
		{"broken double encoding", `{"Data":{"msg":"\"{\\\"segmentId\\\":1}"}}`, "msg", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(t, tc.payload).QueueMessage(tc.binding)
			if tc.wantErr {
				if !errors.Is(err, hostproto.ErrMalformed) {
					t.Fatalf("QueueMessage = %q, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("QueueMessage: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("QueueMessage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueueMeta(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name    string
		payload string
		want    hostproto.QueueMeta
		wantErr bool // one key unreadable
	}{
		{"host payload", queueDoubleEncoded, hostproto.QueueMeta{
			ID: "5f0c6c1e-2f5b-4b8a-9f5e-3a1d2c4b5e6f", DequeueCount: 1,
			InsertionTime:   ts("2024-05-01T10:00:00Z"),
			NextVisibleTime: ts("2024-05-01T10:10:00Z"),
			ExpirationTime:  ts("2024-05-08T10:00:00Z"),
			PopReceipt:      "AgAAAAMAAAAAAAAA",
		}, false},
		{"DequeueCount number", queueDequeueNumber, hostproto.QueueMeta{ID: "abc", DequeueCount: 3}, false},
		{"DequeueCount string", queueBinary, hostproto.QueueMeta{ID: "abc", DequeueCount: 2}, false},
		{"DequeueCount double-encoded string", `{"Data":{},"Metadata":{"DequeueCount":"\"4\""}}`, hostproto.QueueMeta{DequeueCount: 4}, false},
		{"Id encoded once", queueObject, hostproto.QueueMeta{ID: "abc", DequeueCount: 1}, false},
		{"Id that looks like a number", `{"Data":{},"Metadata":{"Id":"\"123\""}}`, hostproto.QueueMeta{ID: "123"}, false},
		{"lower-case keys", `{"Data":{},"Metadata":{"id":"\"x\"","dequeueCount":"5"}}`, hostproto.QueueMeta{ID: "x", DequeueCount: 5}, false},
		{"no metadata", queueSingleEncoded, hostproto.QueueMeta{}, false},
		{"null values", `{"Data":{},"Metadata":{"Id":null,"DequeueCount":null,"InsertionTime":null}}`, hostproto.QueueMeta{}, false},
		{"time with fraction and Z", `{"Data":{},"Metadata":{"InsertionTime":"\"2024-05-01T10:00:00.1234567Z\""}}`,
			hostproto.QueueMeta{InsertionTime: ts("2024-05-01T10:00:00.1234567Z")}, false},
		{"time in .NET invariant ToString", `{"Data":{},"Metadata":{"InsertionTime":"\"5/1/2024 10:00:00 AM +00:00\""}}`,
			hostproto.QueueMeta{InsertionTime: ts("2024-05-01T10:00:00Z")}, false},

		{"DequeueCount not a number", `{"Data":{},"Metadata":{"DequeueCount":"abc","Id":"\"k\""}}`, hostproto.QueueMeta{ID: "k"}, true},
		{"DequeueCount fractional", `{"Data":{},"Metadata":{"DequeueCount":1.5}}`, hostproto.QueueMeta{}, true},
		{"DequeueCount negative", `{"Data":{},"Metadata":{"DequeueCount":-1}}`, hostproto.QueueMeta{}, true},
		{"DequeueCount boolean", `{"Data":{},"Metadata":{"DequeueCount":true}}`, hostproto.QueueMeta{}, true},
		{"Id object", `{"Data":{},"Metadata":{"Id":{"a":1}}}`, hostproto.QueueMeta{}, true},
		{"Id broken double encoding", `{"Data":{},"Metadata":{"Id":"\"abc"}}`, hostproto.QueueMeta{}, true},
		{"InsertionTime not a date", `{"Data":{},"Metadata":{"InsertionTime":"\"yesterday\""}}`, hostproto.QueueMeta{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A field of a shape no host sends is named in Unreadable and
			// left zero: metadata never fails an invocation.
			got := decode(t, tc.payload).QueueMeta(nil)
			if tc.wantErr != (len(got.Unreadable) == 1) {
				t.Fatalf("Unreadable = %v, want one key: %v", got.Unreadable, tc.wantErr)
			}
			if got.ID != tc.want.ID || got.DequeueCount != tc.want.DequeueCount || got.PopReceipt != tc.want.PopReceipt ||
				!got.InsertionTime.Equal(tc.want.InsertionTime) || !got.NextVisibleTime.Equal(tc.want.NextVisibleTime) ||
				!got.ExpirationTime.Equal(tc.want.ExpirationTime) {
				t.Fatalf("QueueMeta = %+v\nwant       %+v", got, tc.want)
			}
		})
	}
}

// The host merges the message's own top-level properties into Metadata,
// case-insensitively over its keys: a message with id, dequeueCount or
// insertionTime properties overwrites them (with values that may not even
// parse). They are reported as shadowed and left zero, never an error.
func TestQueueMetaShadowedByMessage(t *testing.T) {
	message := []byte(`{"segmentId":1,"id":"mine","dequeueCount":"many","INSERTIONTIME":{"a":1}}`)
	inv := decode(t, `{"Data":{"msg":"x"},"Metadata":{"DequeueCount":"\"many\"","Id":"\"mine\"","InsertionTime":{"a":1},"PopReceipt":"\"pr\"","QueueTrigger":"ignored"}}`)
	got := inv.QueueMeta(message)
	if got.ID != "" || got.DequeueCount != 0 || !got.InsertionTime.IsZero() || got.PopReceipt != "pr" {
		t.Fatalf("shadowed keys must be left zero, the others read: %+v", got)
	}
	if strings.Join(got.Shadowed, ",") != "DequeueCount,Id,InsertionTime" || len(got.Unreadable) != 0 {
		t.Fatalf("Shadowed = %v, Unreadable = %v", got.Shadowed, got.Unreadable)
	}
}
