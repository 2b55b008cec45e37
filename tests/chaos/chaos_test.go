package chaos_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/tests/chaos"
	"github.com/hartonomous/offload/tests/testenv"
)

var (
	binPath string
	az      *azurite.Server
)

// TestMain builds the real binary once and starts one Azurite.
func TestMain(m *testing.M) {
	testenv.Main(m, func(bin string, server *azurite.Server) { binPath, az = bin, server })
}

// TestChaos migrates the demo set through 10% storage faults while
// SIGKILLing the migrating process, then checks that every segment's blob
// holds its source's bytes and no source changed.
//
// Short form (default, part of `make test`): demo --small, 5 kills.
// OFFLOAD_CHAOS=long (`make chaos`): the full demo set, 24 kills.
// OFFLOAD_CHAOS_SEED, OFFLOAD_CHAOS_RATE (0..1) and OFFLOAD_CHAOS_KILLS
// override; OFFLOAD_CHAOS_REPORT=docs/RELIABILITY.md rewrites that file's
// chaos table with the figures of the run.
func TestChaos(t *testing.T) {
	// The short set's segments are a few KiB: a couple of blob requests
	// each. Kills come early and close to their request, so all of them
	// land before the 34 segments are done.
	cfg := chaos.Config{Bin: binPath, Azurite: az, Dir: t.TempDir(), Name: "chaos-short", Logf: t.Logf,
		Kills: 5, Workers: 2, KillAfterMin: 1, KillAfterMax: 4, KillJitter: 30 * time.Millisecond}
	timeout := 5 * time.Minute
	if os.Getenv("OFFLOAD_CHAOS") == "long" {
		cfg.Name, cfg.Full, cfg.Kills = "chaos-long", true, 24
		cfg.Workers, cfg.KillAfterMin, cfg.KillAfterMax, cfg.KillJitter = 4, 3, 12, 100*time.Millisecond
		cfg.Visibility, cfg.ClaimTTL = 3*time.Second, 4*time.Second
		cfg.BlockSizeMiB = 1
		timeout = 45 * time.Minute
	}
	if v := os.Getenv("OFFLOAD_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("OFFLOAD_CHAOS_SEED: %v", err)
		}
		cfg.Seed = n
	}
	if v := os.Getenv("OFFLOAD_CHAOS_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			t.Fatalf("OFFLOAD_CHAOS_RATE %q: want 0..1", v)
		}
		cfg.FaultRate = r
		if r == 0 {
			cfg.FaultRate = -1
		}
	}
	if v := os.Getenv("OFFLOAD_CHAOS_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("OFFLOAD_CHAOS_KILLS: %v", err)
		}
		cfg.Kills = n
	}
	runChaos(t, cfg, timeout, "chaos")
}

// TestChaosOnTSQL is the short chaos run with the catalog on the T-SQL
// engine of MSSQL_TEST_DSN (a throwaway database), reached through the TDS
// fault proxy: 3% of the catalog's requests reset, cut, delayed or
// answered with Azure SQL's transient errors, on top of the storage faults
// and the kills. OFFLOAD_CHAOS=long: the full demo set, 24 kills.
func TestChaosOnTSQL(t *testing.T) {
	cfg := chaos.Config{Bin: binPath, Azurite: az, Dir: t.TempDir(), Name: "chaos-tsql", Logf: t.Logf,
		CatalogDSN: mssqltest.Database(t), Catalog: chaos.CatalogFaults{Rate: 0.03},
		Kills: 5, Workers: 2, KillAfterMin: 1, KillAfterMax: 4, KillJitter: 30 * time.Millisecond}
	timeout := 10 * time.Minute
	if os.Getenv("OFFLOAD_CHAOS") == "long" {
		cfg.Name, cfg.Full, cfg.Kills = "chaos-tsql-long", true, 24
		cfg.Workers, cfg.KillAfterMin, cfg.KillAfterMax, cfg.KillJitter = 4, 3, 12, 100*time.Millisecond
		cfg.Visibility, cfg.ClaimTTL, cfg.BlockSizeMiB = 3*time.Second, 4*time.Second, 1
		timeout = 45 * time.Minute
	}
	runChaos(t, cfg, timeout, "chaos-tsql")
}

// TestChaosCatalogOutageOnTSQL: the catalog alone is hostile. A 30 s
// outage (every connection reset and refused) starts at the first segment
// claim, and 5% of the catalog's requests get a fault; storage is clean
// and nothing is killed, so whatever fails, fails because of the catalog:
// every segment must be migrated and verified with no failed attempt
// recorded and nothing poisoned. OFFLOAD_CHAOS=long: the full demo set.
func TestChaosCatalogOutageOnTSQL(t *testing.T) {
	cfg := chaos.Config{Bin: binPath, Azurite: az, Dir: t.TempDir(), Name: "chaos-tsql-outage", Logf: t.Logf,
		CatalogDSN: mssqltest.Database(t), Catalog: chaos.CatalogFaults{Rate: 0.05, Outage: 30 * time.Second},
		FaultRate: -1, Kills: -1, Workers: 4}
	timeout := 10 * time.Minute
	if os.Getenv("OFFLOAD_CHAOS") == "long" {
		cfg.Name, cfg.Full, cfg.BlockSizeMiB = "chaos-tsql-outage-long", true, 1
		timeout = 45 * time.Minute
	}
	rep := runChaos(t, cfg, timeout, "chaos-tsql-outage")
	if rep == nil {
		return
	}
	if rep.Attempts != 0 || rep.MigrateFailed != 0 || rep.MigratePoisoned != 0 || rep.PoisonedBeforeConverge != 0 || rep.Poisoned != 0 {
		t.Errorf("catalog faults cost %d recorded attempts, %d failed and %d poisoned deliveries, %d/%d in the poison queue: want none",
			rep.Attempts, rep.MigrateFailed, rep.MigratePoisoned, rep.PoisonedBeforeConverge, rep.Poisoned)
	}
	if c := rep.Catalog; c == nil || c.Outages != 1 || len(c.Faults) == 0 {
		t.Errorf("the catalog was not hostile: %+v", c)
	}
}

// runChaos runs cfg and checks its report: every segment verified, every
// source intact, faults injected and every planned kill delivered. With
// OFFLOAD_CHAOS_REPORT, the report replaces docs/RELIABILITY.md's section.
func runChaos(t *testing.T, cfg chaos.Config, timeout time.Duration, section string) *chaos.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep, err := chaos.Run(ctx, cfg)
	if rep != nil {
		t.Logf("chaos report:\n%s", rep.Markdown())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("problem: %s", p)
	}
	if cfg.Catalog.Rate > 0 && (rep.Catalog == nil || rep.Catalog.Requests == 0) {
		t.Error("catalog faults asked for, but no catalog request went through the TDS proxy")
	}
	if rep.Verified != rep.Segments || rep.SourcesIntact != rep.Segments || rep.Segments == 0 {
		t.Errorf("verified %d, sources intact %d, of %d segments", rep.Verified, rep.SourcesIntact, rep.Segments)
	}
	// The run must have been hostile, or it proves nothing.
	if cfg.FaultRate >= 0 && rep.Faulted == 0 {
		t.Errorf("no fault was injected in %d storage requests", rep.Requests)
	}
	// Every planned kill must have landed: a run whose work ended first
	// tested less than it claims.
	if rep.Kills != rep.KillsPlanned {
		t.Errorf("%d of %d planned SIGKILLs delivered: the work ran out first", rep.Kills, rep.KillsPlanned)
	}
	if path := os.Getenv("OFFLOAD_CHAOS_REPORT"); path != "" && !t.Failed() {
		if !filepath.IsAbs(path) {
			path = filepath.Join("..", "..", path) // relative to the module root
		}
		if err := chaos.ReplaceSection(path, section, rep.Markdown()); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote the %s table into %s", section, path)
	}
	return rep
}

// TestOutboxChaos publishes to the outbox, SIGKILLs `offload messages
// drain` between its sends and their marks (and through 10% queue faults),
// then lets two drainers race to the end, and reads the queue: every
// committed message is there, duplicates are only equal re-sends (same id,
// sequence and body), and the consumer rule (inbox.Buffer) applies each
// once, in order per conversation.
func TestOutboxChaos(t *testing.T) {
	runOutboxChaos(t, chaos.OutboxConfig{Bin: binPath, Azurite: az, Dir: t.TempDir(), Logf: t.Logf})
}

// TestOutboxChaosOnTSQL is TestOutboxChaos with the outbox on the T-SQL
// engine of MSSQL_TEST_DSN (a throwaway database), published through the
// real dbo.usp_PublishMessage.
func TestOutboxChaosOnTSQL(t *testing.T) {
	runOutboxChaos(t, chaos.OutboxConfig{Bin: binPath, Azurite: az, Dir: t.TempDir(), Name: "outbox-chaos-tsql", Logf: t.Logf,
		// Catalog round trips are slower there: claims long enough that a
		// pass gets to send before half of them has gone.
		// With 5% of its catalog requests faulted while killing, a pass
		// may lose seconds to a retry: claims of 10 s leave it time to send.
		CatalogDSN: mssqltest.Database(t), ClaimTTL: 10 * time.Second,
		Catalog: chaos.CatalogFaults{Rate: 0.05}})
}

func runOutboxChaos(t *testing.T, cfg chaos.OutboxConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := chaos.RunOutbox(ctx, cfg)
	if rep != nil {
		t.Logf("outbox chaos: %d published over %d conversations, %d kills (messages on the queue with their row unmarked after each: %v), %d queue requests (%d faulted), %d received, %d duplicates, %d applied",
			rep.Published, rep.Conversations, rep.Kills, rep.Unmarked, rep.Requests, rep.Faulted, rep.Received, rep.Duplicates, rep.Delivered)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("problem: %s", p)
	}
	if rep.Kills == 0 || !slices.ContainsFunc(rep.Unmarked, func(n int64) bool { return n > 0 }) {
		t.Errorf("%d kills, rows caught between send and mark %v: the run did not test the crash it is for", rep.Kills, rep.Unmarked)
	}
	if rep.Duplicates == 0 {
		t.Error("no message was sent twice: no kill landed between a send and its mark")
	}
	if rep.Kills != rep.KillsPlanned {
		t.Errorf("%d of %d planned SIGKILLs delivered: the outbox ran out first", rep.Kills, rep.KillsPlanned)
	}
}
