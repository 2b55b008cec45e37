package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/engines"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/demo"
	"github.com/hartonomous/offload/internal/segments"
)

// demoSeed is the seed `offload demo seed` uses.
const demoSeed = 1

// source is a segment's payload as the catalog held it before the run.
type source struct {
	id       int64
	seg      catalog.Segment
	size     int64
	hash     string // of RawPayload, read through the catalog
	demoHash string // of the demo generator's bytes for this segment
}

// allSegments pages through every segment row.
func allSegments(ctx context.Context, cat catalog.Catalog) ([]catalog.Segment, error) {
	var out []catalog.Segment
	f := catalog.SegmentFilter{Limit: 500}
	for {
		rows, err := cat.ListSegments(ctx, f)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return out, nil
		}
		out = append(out, rows...)
		f.AfterID = rows[len(rows)-1].ID
	}
}

// sourceHashes hashes every RawPayload and the demo generator's bytes for it.
func sourceHashes(ctx context.Context, dsn string) (map[int64]source, error) {
	cat, err := engines.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer cat.Close()
	segs, err := allSegments(ctx, cat)
	if err != nil {
		return nil, err
	}
	out := map[int64]source{}
	for _, s := range segs {
		h, n, err := payloadHash(ctx, cat, s.ID)
		if err != nil {
			return nil, err
		}
		d, _, err := hashOf(demo.Payload(demoSeed, s.ModelID, s.LayerID, s.SegmentOrdinal, n))
		if err != nil {
			return nil, err
		}
		out[s.ID] = source{id: s.ID, seg: s, size: n, hash: h, demoHash: d}
	}
	return out, nil
}

func payloadHash(ctx context.Context, cat catalog.Catalog, id int64) (string, int64, error) {
	pr, err := cat.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: 1 << 20})
	if err != nil {
		return "", 0, fmt.Errorf("chaos: open payload %d: %w", id, err)
	}
	defer pr.Close()
	h, n, err := hashOf(pr)
	if err == nil && n != pr.Size() {
		err = fmt.Errorf("read %d of %d bytes", n, pr.Size())
	}
	if err != nil {
		return "", 0, fmt.Errorf("chaos: read payload %d: %w", id, err)
	}
	return h, n, nil
}

func hashOf(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// check compares the end state with the sources, reading everything again
// itself: the catalog rows, the blobs (straight from Azurite, not through
// the proxies) and the queues.
func check(ctx context.Context, cfg Config, dsn string, names resourceNames, before map[int64]source, rep *Report) error {
	cat, err := engines.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer cat.Close()
	st := config.Storage{ConnectionString: cfg.Azurite.ConnectionString}
	blobs, err := blobstore.New(st, blobstore.Options{})
	if err != nil {
		return err
	}
	q, err := broker.New(st, broker.Options{})
	if err != nil {
		return err
	}
	segs, err := allSegments(ctx, cat)
	if err != nil {
		return err
	}
	if len(segs) != len(before) {
		rep.problem("%d segment rows after the run, %d before", len(segs), len(before))
	}
	now := time.Now().UTC()
	expected := map[string]bool{}
	for _, s := range segs {
		rep.EndStates[string(s.State)]++
		rep.Attempts += s.Attempts
		src, ok := before[s.ID]
		if !ok {
			rep.problem("segment %d appeared during the run", s.ID)
			continue
		}
		expected[segments.BlobName(s)] = true
		checkSource(ctx, cat, s, src, rep)
		if !s.ClaimedUntil.IsZero() && s.ClaimedUntil.After(now) {
			rep.problem("segment %d: a live claim is left (until %s)", s.ID, s.ClaimedUntil.Format(time.RFC3339Nano))
		}
		checkBlob(ctx, blobs, names, s, src, rep)
	}
	// No blob that no row explains (names are deterministic per segment).
	err = blobs.List(ctx, names.tensors, "", "", func(it blobstore.Item) error {
		if !expected[it.Name] {
			rep.problem("blob %s belongs to no segment", it.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chaos: list %s: %w", names.tensors, err)
	}
	return checkQueues(ctx, q, cat, names, rep)
}

// checkSource checks that the source is intact: RawPayload has the bytes
// it had.
func checkSource(ctx context.Context, cat catalog.Catalog, s catalog.Segment, src source, rep *Report) {
	h, n, err := payloadHash(ctx, cat, s.ID)
	switch {
	case err != nil:
		rep.problem("segment %d: source unreadable after the run: %v", s.ID, err)
	case h != src.hash || n != src.size:
		rep.problem("segment %d: RawPayload changed: %d bytes sha256 %s, was %d bytes %s", s.ID, n, h, src.size, src.hash)
	default:
		rep.SourcesIntact++
	}
}

// checkBlob checks that the segment ended verified, its row records the
// source's hash and size and points at its own blob, whose bytes hash to
// the source's SHA-256 and whose metadata names it.
func checkBlob(ctx context.Context, blobs *blobstore.Client, names resourceNames, s catalog.Segment, src source, rep *Report) {
	name := segments.BlobName(s)
	switch {
	case s.State != catalog.StateVerified:
		rep.problem("segment %d ended %s (attempts %d, last error %q)", s.ID, s.State, s.Attempts, s.LastError)
		return
	case s.Sha256 != src.hash || s.BlobSizeBytes != src.size:
		rep.problem("segment %d: row records %d bytes sha256 %s; the source is %d bytes %s", s.ID, s.BlobSizeBytes, s.Sha256, src.size, src.hash)
		return
	case !strings.HasSuffix(s.BlobURI, "/"+names.tensors+"/"+name):
		rep.problem("segment %d: BlobUri %q is not %s/%s", s.ID, s.BlobURI, names.tensors, name)
		return
	}
	body, props, err := blobs.Download(ctx, names.tensors, name, 0, 0)
	if err != nil {
		rep.problem("segment %d: blob %s: %v", s.ID, name, err)
		return
	}
	bh, bn, err := hashOf(body)
	body.Close()
	switch {
	case err != nil:
		rep.problem("segment %d: read blob %s: %v", s.ID, name, err)
	case bh != src.hash || bn != src.size:
		rep.problem("segment %d: blob %s is %d bytes sha256 %s; the source is %d bytes %s", s.ID, name, bn, bh, src.size, src.hash)
	case props.ETag != s.BlobETag:
		rep.problem("segment %d: row records ETag %s, blob %s has %s", s.ID, s.BlobETag, name, props.ETag)
	case props.Meta("Sha256") != src.hash:
		rep.problem("segment %d: blob metadata Sha256 %q, source %s", s.ID, props.Meta("Sha256"), src.hash)
	case props.Meta("SegmentOrdinal") != strconv.FormatInt(s.SegmentOrdinal, 10) ||
		props.Meta("LayerId") != strconv.FormatInt(s.LayerID, 10) || props.Meta("ModelId") != strconv.FormatInt(s.ModelID, 10):
		rep.problem("segment %d: blob metadata %v does not name it", s.ID, props.Metadata)
	default:
		rep.Verified++
		rep.BytesChecked += bn
	}
}

// checkQueues checks that the queue is drained and that every poisoned
// message is explained: its segment ended verified anyway.
func checkQueues(ctx context.Context, q *broker.Client, cat catalog.Catalog, names resourceNames, rep *Report) error {
	if n, err := q.Count(ctx, names.queue); err != nil {
		return err
	} else if n != 0 {
		rep.problem("%d message(s) left in %s", n, names.queue)
	}
	poison := broker.PoisonQueue(names.queue)
	if err := q.Ensure(ctx, poison); err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		msgs, err := q.Receive(ctx, poison, 32, 5*time.Minute)
		if err != nil || len(msgs) == 0 {
			return err
		}
		for _, m := range msgs {
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			rep.Poisoned++
			pm, err := segments.ParseMessage(m.Body)
			if err != nil {
				rep.problem("poison message %s is not a segment message: %v", m.ID, err)
				continue
			}
			s, err := cat.GetSegment(ctx, pm.SegmentID)
			if errors.Is(err, catalog.ErrNotFound) || (err == nil && s.State != catalog.StateVerified) {
				rep.problem("poison message for segment %d is unexplained: the segment ended %s", pm.SegmentID, s.State)
				continue
			}
			if err != nil {
				return err
			}
			rep.PoisonExplained++
		}
	}
}
