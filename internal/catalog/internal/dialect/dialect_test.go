package dialect

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hartonomous/offload/internal/catalog"
)

func TestTruncateKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 10) // 20 bytes
	for n := 0; n <= 21; n++ {
		got := Truncate(s, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasPrefix(s, got) || (n >= 1 && len(got) < n-1) {
			t.Fatalf("Truncate(%d) = %q", n, got)
		}
	}
}

func TestBatchesDedupAndSplit(t *testing.T) {
	got := Batches([]int64{5, 1, 5, 3, 2, 4, 1}, 2)
	want := [][]int64{{1, 2}, {3, 4}, {5}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("%v", got)
		}
	}
	if Batches(nil, 3) != nil {
		t.Fatal("batches of nothing")
	}
}

func TestSortStatus(t *testing.T) {
	rows := []catalog.StatusRow{{ModelID: 2, State: catalog.StatePending}, {ModelID: 1, State: catalog.StateReleased},
		{ModelID: 1, State: catalog.StateQueued}, {ModelID: 1, State: "weird"}, {ModelID: 1, State: catalog.StatePending}}
	SortStatus(rows)
	var got []string
	for _, r := range rows {
		got = append(got, string(r.State))
	}
	if strings.Join(got, ",") != "pending,queued,released,weird,pending" || rows[4].ModelID != 2 {
		t.Fatalf("%v", rows)
	}
}

func TestChecks(t *testing.T) {
	now := time.Now()
	if CheckClaim(catalog.ClaimSegmentParams{Token: "t", Now: now, Until: now}) == nil {
		t.Fatal("claim ending when it starts accepted")
	}
	if CheckVerified(catalog.RecordVerifiedParams{State: catalog.StateQueued}) == nil || CheckVerified(catalog.RecordVerifiedParams{State: ""}) != nil {
		t.Fatal("CheckVerified")
	}
	if CheckAtomFilter(catalog.AtomFilter{Limit: 1, LinkedOnly: true, UnlinkedOnly: true}) == nil {
		t.Fatal("contradictory atom filter accepted")
	}
	if !Time(now).Equal(now.Truncate(time.Microsecond)) || Time(now).Location() != time.UTC {
		t.Fatal("Time")
	}
}
