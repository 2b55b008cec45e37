package hostproto_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/hostproto"
)

func decode(t *testing.T, payload string) hostproto.Invocation {
	t.Helper()
	inv, err := hostproto.DecodeInvocation(strings.NewReader(payload), 0)
	if err != nil {
		t.Fatalf("DecodeInvocation(%s): %v", payload, err)
	}
	return inv
}

func TestDecodeInvocation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		limit   int64
		wantErr error
	}{
		{"queue double-encoded", queueDoubleEncoded, 0, nil},
		{"queue binary", queueBinary, 0, nil},
		{"timer", timerPlain, 0, nil},
		{"no Metadata", `{"Data":{"msg":"\"x\""}}`, 0, nil},
		{"empty Data", `{"Data":{}}`, 0, nil},
		{"whitespace around", " \n" + timerPlain + "\n", 0, nil},
		{"not JSON", `segmentId=1`, 0, hostproto.ErrMalformed},
		{"empty body", ``, 0, hostproto.ErrMalformed},
		{"JSON array", `[{"Data":{}}]`, 0, hostproto.ErrMalformed},
		{"JSON string", `"{\"Data\":{}}"`, 0, hostproto.ErrMalformed},
		{"truncated", `{"Data":{"msg":"x"`, 0, hostproto.ErrMalformed},
		{"trailing garbage", `{"Data":{}} {}`, 0, hostproto.ErrMalformed},
		{"missing Data", `{"Metadata":{"DequeueCount":"1"}}`, 0, hostproto.ErrMalformed},
		{"null Data", `{"Data":null,"Metadata":{}}`, 0, hostproto.ErrMalformed},
		{"Data array", `{"Data":["msg"]}`, 0, hostproto.ErrMalformed},
		{"Data string", `{"Data":"msg"}`, 0, hostproto.ErrMalformed},
		{"Metadata string", `{"Data":{},"Metadata":"x"}`, 0, hostproto.ErrMalformed},
		{"over limit", queueDoubleEncoded, 64, hostproto.ErrTooLarge},
		{"exactly at limit", `{"Data":{}}`, int64(len(`{"Data":{}}`)), nil},
		{"one over limit", `{"Data":{}} `, int64(len(`{"Data":{}}`)), hostproto.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := hostproto.DecodeInvocation(strings.NewReader(tc.payload), tc.limit)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if inv.Data == nil || inv.Metadata == nil {
				t.Fatalf("Data or Metadata nil: %+v", inv)
			}
		})
	}
}

func TestDecodeInvocationMaxBytesReader(t *testing.T) {
	// The server may also cap the body with http.MaxBytesReader: its error
	// must come out as ErrTooLarge, not as a read failure.
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(queueDoubleEncoded)), 32)
	_, err := hostproto.DecodeInvocation(body, 1<<20)
	if !errors.Is(err, hostproto.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestDecodeInvocationReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := hostproto.DecodeInvocation(io.MultiReader(strings.NewReader(`{"Data":`), errReader{boom}), 0)
	if !errors.Is(err, boom) || errors.Is(err, hostproto.ErrMalformed) {
		t.Fatalf("err = %v, want the read error and not ErrMalformed", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestInvocationID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		header  string
		want    string
	}{
		{"header wins", `{"Data":{},"Metadata":{"sys":{"InvocationId":"from-sys"}}}`, "from-header", "from-header"},
		{"from sys", `{"Data":{},"Metadata":{"sys":{"InvocationId":"from-sys"}}}`, "", "from-sys"},
		{"from sys double-encoded", `{"Data":{},"Metadata":{"sys":{"InvocationId":"\"from-sys\""}}}`, "", "from-sys"},
		{"from Metadata", `{"Data":{},"Metadata":{"InvocationId":"\"top\""}}`, "", "top"},
		{"real sys has none", queueDoubleEncoded, "", ""},
		{"sys not an object", `{"Data":{},"Metadata":{"sys":"x"}}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := decode(t, tc.payload)
			inv.HeaderInvocationID = tc.header
			if got := inv.InvocationID(); got != tc.want {
				t.Fatalf("InvocationID() = %q, want %q", got, tc.want)
			}
		})
	}
}
