// Package dialect holds the little logic the SQL dialects of the catalog
// share: argument checks, status ordering and text limits. It has no SQL in
// it, so that each dialect's statements stay readable in one place.
package dialect

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// MaxErrorLen bounds OffloadError: a failure message is a diagnosis, not a log.
const MaxErrorLen = 2000

// MaxResultLen bounds VerifyResult.
const MaxResultLen = 200

// IDBatch is how many ids one statement binds. SQL Server allows 2100
// parameters per request; SQLite far more. 500 leaves room for the rest.
const IDBatch = 500

// ValidState reports whether s is one of catalog.AllStates.
func ValidState(s catalog.State) bool { return slices.Contains(catalog.AllStates, s) }

// StateRank orders states as reports show them (catalog.AllStates order);
// unknown states sort last.
func StateRank(s catalog.State) int {
	if i := slices.Index(catalog.AllStates, s); i >= 0 {
		return i
	}
	return len(catalog.AllStates)
}

// SortStatus orders status rows by model, then state in report order.
func SortStatus(rows []catalog.StatusRow) {
	slices.SortStableFunc(rows, func(a, b catalog.StatusRow) int {
		if a.ModelID != b.ModelID {
			if a.ModelID < b.ModelID {
				return -1
			}
			return 1
		}
		return StateRank(a.State) - StateRank(b.State)
	})
}

// CheckSegmentFilter rejects filters that would load without bound.
func CheckSegmentFilter(f catalog.SegmentFilter) error {
	if f.Limit <= 0 {
		return fmt.Errorf("catalog: list segments: Limit must be > 0, got %d", f.Limit)
	}
	for _, s := range f.States {
		if !ValidState(s) {
			return fmt.Errorf("catalog: list segments: unknown state %q", s)
		}
	}
	return nil
}

// CheckAtomFilter rejects filters that would load without bound or that
// contradict themselves.
func CheckAtomFilter(f catalog.AtomFilter) error {
	if f.Limit <= 0 {
		return fmt.Errorf("catalog: list atoms: Limit must be > 0, got %d", f.Limit)
	}
	if f.LinkedOnly && f.UnlinkedOnly {
		return errors.New("catalog: list atoms: LinkedOnly and UnlinkedOnly are exclusive")
	}
	return nil
}

// CheckVerified validates RecordVerifiedParams before any SQL runs. State "" keeps
// the row's state.
func CheckVerified(p catalog.RecordVerifiedParams) error {
	if p.State != "" && !ValidState(p.State) {
		return fmt.Errorf("catalog: record verified %d: unknown state %q", p.ID, p.State)
	}
	if p.State == catalog.StatePending || p.State == catalog.StateQueued {
		return fmt.Errorf("catalog: record verified %d: a verification cannot set state %q (use ResetBlob)", p.ID, p.State)
	}
	return nil
}

// CheckClaim validates ClaimSegmentParams.
func CheckClaim(p catalog.ClaimSegmentParams) error {
	if p.Token == "" {
		return fmt.Errorf("catalog: claim %d: empty token", p.ID)
	}
	if !p.Until.After(p.Now) {
		return fmt.Errorf("catalog: claim %d: Until %s is not after Now %s", p.ID, p.Until.Format(time.RFC3339Nano), p.Now.Format(time.RFC3339Nano))
	}
	return nil
}

// CheckChunk validates an OpenPayload chunk size.
func CheckChunk(id int64, chunk int) error {
	if chunk <= 0 {
		return fmt.Errorf("catalog: open payload %d: chunk must be > 0, got %d", id, chunk)
	}
	return nil
}

// Truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // continuation byte: back up to a rune start
		n--
	}
	return s[:n]
}

// Batches splits ids, without duplicates, into sorted slices of at most n,
// so that a row named twice is counted once.
func Batches(ids []int64, n int) [][]int64 {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var out [][]int64
	for len(ids) > 0 {
		k := min(n, len(ids))
		out = append(out, ids[:k])
		ids = ids[k:]
	}
	return out
}

// Time normalises a time for storage: UTC, microsecond precision. Both
// engines store exactly this, so a value read back equals the value written.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
