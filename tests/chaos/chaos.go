// Package chaos proves that segment migration loses nothing under storage
// faults and killed workers. Run seeds an embedded catalog with the demo
// set, puts fault-injecting proxies (tests/faultproxy) between the real
// offload binary and Azurite, and starts `offload segments migrate` again
// and again, SIGKILLing it at seeded random moments, until the queue is
// drained. Then, with the faults off, it lets verification and a final
// migration converge, and checks the outcome itself, without trusting
// Offload's own bookkeeping: every blob is downloaded and hashed against
// the source payload, every source payload against the demo generator.
//
// The same Run serves the short form inside `make test` and the long form
// of `make chaos`, which also rewrites docs/RELIABILITY.md's table.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/faultproxy"
)

// Config is one chaos run. Zero fields take the defaults of the short form.
type Config struct {
	// Bin is the offload binary; Azurite the emulator behind the proxies.
	Bin     string
	Azurite *azurite.Server
	// Dir holds the catalog, the model files and nothing else.
	Dir string
	// CatalogDSN is the catalog's connection string; empty means an
	// embedded catalog in Dir. A T-SQL catalog must be an empty database.
	CatalogDSN string
	// Name makes the containers and queue unique on a shared Azurite
	// (lowercase letters, digits, hyphens).
	Name string

	// Seed drives the faults and the kill moments (default 1).
	Seed int64
	// FaultRate is the share of storage requests that get a fault (0.10).
	// Negative means none.
	FaultRate float64
	// MaxDelay bounds a Delay fault (250ms).
	MaxDelay time.Duration
	// Catalog are the faults of a T-SQL catalog's connections (none).
	Catalog CatalogFaults
	// Full seeds the whole demo set (34 segments, ~220 MiB, one of 72 MiB);
	// otherwise `demo seed --small` (34 segments, ~1 MiB).
	Full bool

	// Kills is the number of SIGKILLs to deliver (5).
	Kills int
	// A migrate is SIGKILLed once the blob proxy has seen a seeded number
	// of its requests, drawn from KillAfterMin..KillAfterMax (3..12), and
	// a seeded 0..KillJitter (100ms) later, so the kill lands inside a
	// transfer, not at a request's edge. Counting requests, not time,
	// spreads the kills over the work whatever the machine's speed: a
	// timed kill on a fast machine finds the work already done, and the
	// run delivers fewer kills than planned.
	KillAfterMin, KillAfterMax int64
	KillJitter                 time.Duration
	// Workers is migrate --workers (4); BlockSizeMiB its --block-size-mib
	// (0: the default 4).
	Workers      int
	BlockSizeMiB int
	// Visibility and ClaimTTL are migrate --visibility and --claim-ttl:
	// how soon a killed worker's messages reappear (2s) and its claims
	// expire (1500ms). The claim expires first, so a redelivered message
	// finds the segment free.
	Visibility, ClaimTTL time.Duration
	// MaxRounds bounds the migrate starts under faults (2×Kills + 20).
	MaxRounds int
	// RoundTimeout bounds a migrate that is left to finish (5 min).
	RoundTimeout time.Duration
	// Converge bounds the verify + migrate passes after the faults (6).
	Converge int

	// Logf receives progress lines (nil: none).
	Logf func(format string, args ...any)
}

func (c *Config) defaults() error {
	if c.Bin == "" || c.Azurite == nil || c.Dir == "" {
		return errors.New("chaos: Bin, Azurite and Dir are required")
	}
	if c.Name == "" {
		c.Name = "chaos"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	switch {
	case c.FaultRate == 0:
		c.FaultRate = 0.10
	case c.FaultRate < 0:
		c.FaultRate = 0
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 250 * time.Millisecond
	}
	if c.Kills < 0 {
		c.Kills = 0
	} else if c.Kills == 0 {
		c.Kills = 5
	}
	if c.KillAfterMin <= 0 {
		c.KillAfterMin = 3
	}
	if c.KillAfterMax < c.KillAfterMin {
		c.KillAfterMax = max(12, c.KillAfterMin)
	}
	if c.KillJitter <= 0 {
		c.KillJitter = 100 * time.Millisecond
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Visibility <= 0 {
		c.Visibility = 2 * time.Second
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = 3 * time.Second
	}
	if c.MaxRounds <= 0 {
		c.MaxRounds = 2*c.Kills + 20
	}
	if c.RoundTimeout <= 0 {
		c.RoundTimeout = 5 * time.Minute
	}
	if c.Converge <= 0 {
		c.Converge = 6
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// Run does one chaos run and returns its report. An error means the run
// could not be carried out (setup, a command that cannot start); a run that
// completed but found something wrong returns a report whose Problems say
// what, and no error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Seed: cfg.Seed, FaultRate: cfg.FaultRate, Full: cfg.Full, KillsPlanned: cfg.Kills,
		Faults: map[string]int64{}, EndStates: map[string]int64{}}
	defer func() { rep.Wall = time.Since(start) }()

	blobProxy, err := faultproxy.Start(faultproxy.Config{Target: fmt.Sprintf("http://127.0.0.1:%d", cfg.Azurite.BlobPort),
		Seed: cfg.Seed, Rate: cfg.FaultRate, MaxDelay: cfg.MaxDelay})
	if err != nil {
		return nil, err
	}
	defer blobProxy.Close()
	queueProxy, err := faultproxy.Start(faultproxy.Config{Target: fmt.Sprintf("http://127.0.0.1:%d", cfg.Azurite.QueuePort),
		Seed: cfg.Seed + 1, Rate: cfg.FaultRate, MaxDelay: cfg.MaxDelay})
	if err != nil {
		return nil, err
	}
	defer queueProxy.Close()

	dsn := cfg.CatalogDSN
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(cfg.Dir, "catalog.db")
	}
	tds, workDSN, err := catalogProxy(cfg.Catalog, dsn, cfg.Seed+2, cfg.MaxDelay)
	if err != nil {
		return nil, err
	}
	if tds != nil {
		defer tds.Close()
	}
	names := names(cfg.Name)
	off := Offload{Bin: cfg.Bin, Dir: cfg.Dir, Env: map[string]string{
		"SQL_CONNECTION_STRING": workDSN,
		"AzureWebJobsStorage":   faultproxy.DevConnectionString(blobProxy.URL(), queueProxy.URL()),
		"TENSORS_CONTAINER":     names.tensors,
		"MODELS_CONTAINER":      names.models,
		"ATOMS_CONTAINER":       names.atoms,
		"SEGMENT_QUEUE":         names.queue,
	}}
	direct, err := broker.New(config.Storage{ConnectionString: cfg.Azurite.ConnectionString}, broker.Options{})
	if err != nil {
		return nil, err
	}
	// Seeding and the schema step go to the catalog directly.
	setup := Offload{Bin: cfg.Bin, Dir: cfg.Dir, Env: maps.Clone(off.Env)}
	setup.Env["SQL_CONNECTION_STRING"] = dsn
	must := func(timeout time.Duration, args ...string) (Result, error) {
		r, err := setup.Run(ctx, timeout, args...)
		if err == nil && r.Code != 0 {
			err = errors.New(r.String())
		}
		return r, err
	}

	// 1. The catalog: demo set, schema, and the source hashes before the run.
	seedArgs := []string{"demo", "seed", "--files-dir", filepath.Join(cfg.Dir, "models")}
	if !cfg.Full {
		seedArgs = append(seedArgs, "--small")
	}
	if _, err := must(5*time.Minute, seedArgs...); err != nil {
		return nil, err
	}
	if _, err := must(2*time.Minute, "schema", "apply"); err != nil {
		return nil, err
	}
	before, err := sourceHashes(ctx, dsn)
	if err != nil {
		return nil, err
	}
	rep.Segments = int64(len(before))
	for _, s := range before {
		rep.PayloadBytes += s.size
		if s.hash != s.demoHash {
			rep.problem("segment %d: seeded payload %s is not the demo generator's %s", s.id, s.hash, s.demoHash)
		}
	}
	cfg.Logf("chaos: seeded %d segments (%d bytes); faults %.0f%% seed %d", rep.Segments, rep.PayloadBytes, cfg.FaultRate*100, cfg.Seed)

	// 2. Enqueue through the faults. A Put Message whose answer is lost is
	//    not retried (POST) and fails the run although the message was
	//    queued; the rerun queues what is still pending (duplicates are
	//    harmless: migration is idempotent).
	for {
		rep.EnqueueRuns++
		r, err := off.Run(ctx, 2*time.Minute, "segments", "enqueue")
		if err != nil {
			return rep, err
		}
		if r.Code == 0 {
			break
		}
		if rep.EnqueueRuns >= 10 {
			rep.problem("segments enqueue failed %d times under faults; last: %s", rep.EnqueueRuns, r)
			break
		}
	}

	// 3. Migrate, SIGKILLed at seeded moments, until a run drains the queue
	//    and nothing is left unmigrated. When a drained queue leaves rows
	//    behind (a redelivered message found a killed worker's live claim,
	//    or was poisoned), the verification timer's pass re-queues them,
	//    through the faults too, and the rounds go on.
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xc4a05))
	migrateArgs := []string{"segments", "migrate", "--workers", strconv.Itoa(cfg.Workers),
		"--visibility", cfg.Visibility.String(), "--claim-ttl", cfg.ClaimTTL.String()}
	if cfg.BlockSizeMiB > 0 {
		migrateArgs = append(migrateArgs, "--block-size-mib", strconv.Itoa(cfg.BlockSizeMiB))
	}
	var lastKill time.Time
	converged := false
	for !converged && rep.Rounds < cfg.MaxRounds {
		rep.Rounds++
		p, err := off.Start(migrateArgs...)
		if err != nil {
			return rep, err
		}
		kill := rep.Kills < cfg.Kills
		var at killAt
		if kill {
			at = killAt{requests: cfg.KillAfterMin + rng.Int64N(cfg.KillAfterMax-cfg.KillAfterMin+1),
				jitter: time.Duration(rng.Int64N(int64(cfg.KillJitter)))}
		}
		if err := waitRound(ctx, p, kill, at, cfg.RoundTimeout, blobProxy); err != nil {
			return rep, err
		}
		r := p.Wait()
		switch {
		case r.Killed && kill:
			rep.Kills++
			lastKill = time.Now()
			cfg.Logf("chaos: round %d: SIGKILL %s after its blob request %d", rep.Rounds, at.jitter.Round(time.Millisecond), at.requests)
			continue
		case r.Killed:
			rep.problem("round %d: segments migrate still running after %s; killed", rep.Rounds, cfg.RoundTimeout)
			continue
		}
		rep.NaturalExits++
		st := parseMigrate(r.Stdout)
		rep.MigrateFailed += st.failed
		rep.MigratePoisoned += st.poisoned
		cfg.Logf("chaos: round %d: exit %d after %s (migrated %d, failed attempts %d, poisoned %d)",
			rep.Rounds, r.Code, r.Wall.Round(time.Millisecond), st.migrated, st.failed, st.poisoned)
		if r.Code != 0 && st.failed == 0 && st.poisoned == 0 {
			// Not the failures of single messages that the queue retries:
			// the run itself stopped (a receive that failed every retry).
			cfg.Logf("chaos: round %d stopped: %s", rep.Rounds, tail(r.Stderr))
		}
		n, err := direct.Count(ctx, names.queue)
		if err != nil {
			return rep, fmt.Errorf("chaos: count %s: %w", names.queue, err)
		}
		if n > 0 {
			continue
		}
		states, err := statusStates(ctx, off)
		if err != nil {
			return rep, err
		}
		if states["pending"]+states["queued"]+states["mismatch"] == 0 {
			converged = true
			break
		}
		// Let the last killed worker's claims expire, as the timer's
		// schedule would, then run its pass.
		if wait := cfg.ClaimTTL - time.Since(lastKill); wait > 0 {
			time.Sleep(wait)
		}
		vr, r, err := verify(ctx, off)
		if err != nil {
			return rep, err
		}
		rep.FaultVerifyRuns++
		rep.FaultMismatched += vr.Mismatched
		rep.Requeued += vr.Requeued
		cfg.Logf("chaos: round %d: queue drained with %v; verify under faults: exit %d, verified %d, re-queued %d, mismatched %d",
			rep.Rounds, states, r.Code, vr.Verified, vr.Requeued, vr.Mismatched)
	}
	if !converged {
		rep.problem("under faults, %d rounds did not migrate every segment", rep.Rounds)
	}
	rep.PoisonedBeforeConverge, _ = direct.Count(ctx, broker.PoisonQueue(names.queue))

	// 4. Faults off: verification re-queues what the kills and the poison
	//    queue left unmigrated, a final migrate drains it, until every
	//    segment is verified.
	blobProxy.SetRate(0)
	queueProxy.SetRate(0)
	if tds != nil {
		tds.SetRate(0)
	}
	// The claims of the last killed worker block its segments until they
	// expire (as they would for ClaimTTL in production): wait them out,
	// so each pass below can make progress.
	if wait := cfg.ClaimTTL - time.Since(lastKill); wait > 0 {
		time.Sleep(wait)
	}
	for i := 0; i < cfg.Converge; i++ {
		rep.VerifyRuns++
		vr, r, err := verify(ctx, off)
		if err != nil {
			return rep, err
		}
		rep.Requeued += vr.Requeued
		rep.Mismatched += vr.Mismatched
		if r.Code != 0 {
			rep.problem("segments verify (faults off) failed: %s", r)
		}
		states, err := statusStates(ctx, off)
		if err != nil {
			return rep, err
		}
		cfg.Logf("chaos: verify %d: verified %d, re-queued %d, states %v", rep.VerifyRuns, vr.Verified, vr.Requeued, states)
		if states["verified"] == rep.Segments {
			break
		}
		if vr.Requeued == 0 && states["migrated"] == 0 {
			// Nothing to migrate and nothing left to verify: stuck.
			rep.problem("verify re-queued nothing but only %d of %d segments are verified: %v", states["verified"], rep.Segments, states)
			break
		}
		rep.FinalMigrates++
		r, err = off.Run(ctx, cfg.RoundTimeout, migrateArgs...)
		if err != nil {
			return rep, err
		}
		if r.Code != 0 {
			rep.problem("segments migrate (faults off) failed: %s", r)
		}
	}

	// 5. Independent checks, and the figures.
	for _, p := range []*faultproxy.Proxy{blobProxy, queueProxy} {
		s := p.Stats()
		rep.Requests += s.Requests
		rep.Retried += s.Retried
		for k, n := range s.Faults {
			rep.Faults[k.String()] += n
			rep.Faulted += n
		}
	}
	rep.BlobRequests, rep.QueueRequests = blobProxy.Stats().Requests, queueProxy.Stats().Requests
	rep.Catalog = catalogReport(cfg.Catalog, tds)
	if err := check(ctx, cfg, dsn, names, before, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// killAt is when a round's SIGKILL lands: jitter after the blob proxy saw
// the round's requests-th request.
type killAt struct {
	requests int64
	jitter   time.Duration
}

// waitRound waits for a migrate run to end, or SIGKILLs it: with kill, at
// the seeded point of its blob traffic (so the kill lands in the middle of
// the work, not in start-up or an idle poll), and in any case once timeout
// has passed.
func waitRound(ctx context.Context, p *Proc, kill bool, at killAt, timeout time.Duration, blob *faultproxy.Proxy) error {
	start := time.Now()
	base := blob.Stats().Requests
	var killTime time.Time
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.Done():
			return nil
		case <-ctx.Done():
			p.Kill()
			p.Wait()
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		if kill && killTime.IsZero() && blob.Stats().Requests-base >= at.requests {
			killTime = now.Add(at.jitter)
		}
		if (!killTime.IsZero() && !now.Before(killTime)) || now.Sub(start) > timeout {
			p.Kill()
			return nil
		}
	}
}

// verifyReport is the part of `segments verify --json` the run counts.
type verifyReport struct {
	Verified, Mismatched, Lost, Requeued int64
}

// verify runs one verification pass that re-queues every unmigrated
// segment (--requeue-after 1ns) and reads every migrated one back.
func verify(ctx context.Context, off Offload) (verifyReport, Result, error) {
	var vr verifyReport
	r, err := off.Run(ctx, 10*time.Minute, "segments", "verify", "--json", "--requeue-after", "1ns",
		"--batch", "1000", "--sample", "0", "--budget", "5m")
	if err != nil {
		return vr, r, err
	}
	if err := json.Unmarshal([]byte(r.Stdout), &vr); err != nil {
		return vr, r, fmt.Errorf("chaos: segments verify: not a JSON report (%v): %s", err, r)
	}
	return vr, r, nil
}

type resourceNames struct{ tensors, models, atoms, queue string }

func names(name string) resourceNames {
	n := strings.ToLower(name)
	return resourceNames{tensors: "tensors-" + n, models: "models-" + n, atoms: "atoms-" + n, queue: "segq-" + n}
}

type migrateSummary struct{ migrated, failed, poisoned int64 }

var summaryLine = regexp.MustCompile(`(?m)^(migrated|failed attempts|poisoned)\s+(\d+)\s*$`)

// parseMigrate reads the summary `segments migrate` prints when it ends.
func parseMigrate(stdout string) migrateSummary {
	var s migrateSummary
	for _, m := range summaryLine.FindAllStringSubmatch(stdout, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		switch m[1] {
		case "migrated":
			s.migrated = n
		case "failed attempts":
			s.failed = n
		case "poisoned":
			s.poisoned = n
		}
	}
	return s
}

// statusStates is `segments status --json`'s count per state.
func statusStates(ctx context.Context, off Offload) (map[string]int64, error) {
	r, err := off.Run(ctx, time.Minute, "segments", "status", "--json")
	if err != nil {
		return nil, err
	}
	var st struct {
		Totals map[string]struct{ Segments int64 } `json:"totals"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		return nil, fmt.Errorf("chaos: segments status: %v\n%s", err, r)
	}
	out := map[string]int64{}
	for k, v := range st.Totals {
		if v.Segments > 0 {
			out[k] = v.Segments
		}
	}
	return out, nil
}
