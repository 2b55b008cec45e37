package atoms

import (
	"maps"
	"path/filepath"
	"testing"
)

// wantRequests fails the test unless the blob requests since the last
// call were exactly want (by operation); counting starts afresh.
func (e *env) wantRequests(what string, want map[string]int64) {
	e.t.Helper()
	if got := e.reqs.Take(); !maps.Equal(got, want) {
		e.t.Errorf("%s: requests %v, want %v", what, got, want)
	}
}

// The requests an upload costs per file: one lookup (which also sees
// blocks an interrupted upload staged), then the bytes; no HEAD, no
// listing of staged blocks when there are none; a re-run only the lookup.
func TestUploadRequests(t *testing.T) {
	e := setup(t)
	multi, _ := writeModel(t, e.dir, 21, 2*testBlock+1)
	full, _ := writeModel(t, e.dir, 22, testBlock) // exactly one block: one Put Blob
	small, _ := writeModel(t, e.dir, 23, 100)

	for _, tc := range []struct {
		path string
		want map[string]int64
	}{
		{multi, map[string]int64{"CreateContainer": 1, "List": 1, "PutBlock": 3, "PutBlockList": 1}},
		{full, map[string]int64{"CreateContainer": 1, "List": 1, "PutBlob": 1}},
		{small, map[string]int64{"CreateContainer": 1, "List": 1, "PutBlob": 1}},
	} {
		e.reqs.Reset()
		res, err := e.svc.Upload(e.ctx, UploadParams{Files: []string{tc.path}})
		if err != nil || res[0].Outcome != OutcomeUploaded {
			t.Fatalf("upload: %v %+v", err, res)
		}
		e.wantRequests("fresh "+filepath.Base(tc.path), tc.want)

		res, err = e.svc.Upload(e.ctx, UploadParams{Files: []string{tc.path}})
		if err != nil || res[0].Outcome != OutcomeSkipped {
			t.Fatalf("re-run: %v %+v", err, res)
		}
		e.wantRequests("re-run "+filepath.Base(tc.path), map[string]int64{"CreateContainer": 1, "List": 1})
	}
}

// A file that is not content-named is hashed, then looked up under its
// digest: the same one lookup, then the bytes and the receipt.
func TestUploadRequestsNotContentNamed(t *testing.T) {
	e := setup(t)
	writeFile(t, filepath.Join(e.dir, "m", "model.gguf"), 24, 2*testBlock+1)
	e.atomHash("plain", `D:\Models\m\model.gguf`)
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})

	e.reqs.Reset()
	res, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil || res[0].Outcome != OutcomeUploaded {
		t.Fatalf("upload: %v %+v", err, res)
	}
	// The receipt is one small Put Blob.
	e.wantRequests("fresh", map[string]int64{"CreateContainer": 1, "List": 1, "PutBlock": 3, "PutBlockList": 1, "PutBlob": 1})

	// Not linked yet: hashed again, found proven, only the receipt is due.
	res, err = e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil || res[0].Outcome != OutcomeSkipped {
		t.Fatalf("re-run: %v %+v", err, res)
	}
	e.wantRequests("re-run", map[string]int64{"CreateContainer": 1, "List": 1, "PutBlob": 1})
}
