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
	"github.com/hartonomous/offload/tests/tdsproxy"
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
	r, err := startRun(ctx, cfg, rep)
	if err != nil {
		return nil, err
	}
	defer r.close()
	before, err := r.seed()
	if err != nil {
		return nil, err
	}
	for _, step := range []func() error{r.enqueue, r.migrateUnderFaults, r.converge} {
		if err := step(); err != nil {
			return rep, err
		}
	}
	r.figures()
	if err := check(ctx, cfg, r.dsn, r.names, before, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// chaosRun is the state of one Run: the proxies, the offload binary
// behind them, and what the rounds have done so far.
type chaosRun struct {
	ctx         context.Context
	cfg         Config
	rep         *Report
	blob, queue *faultproxy.Proxy
	tds         *tdsproxy.Proxy // the catalog's faults (nil: none)
	off         Offload         // through the proxies
	setup       Offload         // seeding and the schema step go to the catalog directly
	direct      *broker.Client  // the queue without faults
	names       resourceNames
	dsn         string
	migrateArgs []string
	lastKill    time.Time
}

// startRun puts the fault proxies in front of Azurite and points offload
// at them.
func startRun(ctx context.Context, cfg Config, rep *Report) (*chaosRun, error) {
	r := &chaosRun{ctx: ctx, cfg: cfg, rep: rep, names: names(cfg.Name), dsn: cfg.CatalogDSN}
	var err error
	r.blob, err = faultproxy.Start(faultproxy.Config{Target: fmt.Sprintf("http://127.0.0.1:%d", cfg.Azurite.BlobPort),
		Seed: cfg.Seed, Rate: cfg.FaultRate, MaxDelay: cfg.MaxDelay})
	if err != nil {
		return nil, err
	}
	r.queue, err = faultproxy.Start(faultproxy.Config{Target: fmt.Sprintf("http://127.0.0.1:%d", cfg.Azurite.QueuePort),
		Seed: cfg.Seed + 1, Rate: cfg.FaultRate, MaxDelay: cfg.MaxDelay})
	if err != nil {
		r.blob.Close()
		return nil, err
	}
	if r.dsn == "" {
		r.dsn = "sqlite:" + filepath.Join(cfg.Dir, "catalog.db")
	}
	tds, workDSN, err := catalogProxy(cfg.Catalog, r.dsn, cfg.Seed+2, cfg.MaxDelay)
	if err != nil {
		r.close()
		return nil, err
	}
	r.tds = tds
	r.off = Offload{Bin: cfg.Bin, Dir: cfg.Dir, Env: map[string]string{
		"SQL_CONNECTION_STRING": workDSN,
		"AzureWebJobsStorage":   faultproxy.DevConnectionString(r.blob.URL(), r.queue.URL()),
		"TENSORS_CONTAINER":     r.names.tensors,
		"MODELS_CONTAINER":      r.names.models,
		"ATOMS_CONTAINER":       r.names.atoms,
		"SEGMENT_QUEUE":         r.names.queue,
	}}
	r.setup = Offload{Bin: cfg.Bin, Dir: cfg.Dir, Env: maps.Clone(r.off.Env)}
	r.setup.Env["SQL_CONNECTION_STRING"] = r.dsn
	if r.direct, err = broker.New(config.Storage{ConnectionString: cfg.Azurite.ConnectionString}, broker.Options{}); err != nil {
		r.close()
		return nil, err
	}
	r.migrateArgs = []string{"segments", "migrate", "--workers", strconv.Itoa(cfg.Workers),
		"--visibility", cfg.Visibility.String(), "--claim-ttl", cfg.ClaimTTL.String()}
	if cfg.BlockSizeMiB > 0 {
		r.migrateArgs = append(r.migrateArgs, "--block-size-mib", strconv.Itoa(cfg.BlockSizeMiB))
	}
	return r, nil
}

func (r *chaosRun) close() {
	r.blob.Close()
	r.queue.Close()
	if r.tds != nil {
		r.tds.Close()
	}
}

// must runs an offload command that has to succeed, on the catalog
// directly.
func (r *chaosRun) must(timeout time.Duration, args ...string) error {
	res, err := r.setup.Run(r.ctx, timeout, args...)
	if err == nil && res.Code != 0 {
		err = errors.New(res.String())
	}
	return err
}

// seed is step 1: the catalog (demo set, schema) and the source hashes
// before the run.
func (r *chaosRun) seed() (map[int64]source, error) {
	seedArgs := []string{"demo", "seed", "--files-dir", filepath.Join(r.cfg.Dir, "models")}
	if !r.cfg.Full {
		seedArgs = append(seedArgs, "--small")
	}
	if err := r.must(5*time.Minute, seedArgs...); err != nil {
		return nil, err
	}
	if err := r.must(2*time.Minute, "schema", "apply"); err != nil {
		return nil, err
	}
	before, err := sourceHashes(r.ctx, r.dsn)
	if err != nil {
		return nil, err
	}
	r.rep.Segments = int64(len(before))
	for _, s := range before {
		r.rep.PayloadBytes += s.size
		if s.hash != s.demoHash {
			r.rep.problem("segment %d: seeded payload %s is not the demo generator's %s", s.id, s.hash, s.demoHash)
		}
	}
	r.cfg.Logf("chaos: seeded %d segments (%d bytes); faults %.0f%% seed %d", r.rep.Segments, r.rep.PayloadBytes, r.cfg.FaultRate*100, r.cfg.Seed)
	return before, nil
}

// enqueue is step 2: enqueue through the faults. A Put Message whose
// answer is lost is not retried (POST) and fails the run although the
// message was queued; the rerun queues what is still pending (duplicates
// are harmless: migration is idempotent).
func (r *chaosRun) enqueue() error {
	rep := r.rep
	for {
		rep.EnqueueRuns++
		res, err := r.off.Run(r.ctx, 2*time.Minute, "segments", "enqueue")
		if err != nil {
			return err
		}
		if res.Code == 0 {
			return nil
		}
		if rep.EnqueueRuns >= 10 {
			rep.problem("segments enqueue failed %d times under faults; last: %s", rep.EnqueueRuns, res)
			return nil
		}
	}
}

// migrateUnderFaults is step 3: migrate, SIGKILLed at seeded moments,
// until a run drains the queue and nothing is left unmigrated. When a
// drained queue leaves rows behind (a redelivered message found a killed
// worker's live claim, or was poisoned), the verification timer's pass
// re-queues them, through the faults too, and the rounds go on.
func (r *chaosRun) migrateUnderFaults() error {
	rep := r.rep
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), 0xc4a05))
	converged := false
	for !converged && rep.Rounds < r.cfg.MaxRounds {
		rep.Rounds++
		drained, err := r.round(rng)
		if err != nil {
			return err
		}
		if drained {
			if converged, err = r.verifyUnderFaults(); err != nil {
				return err
			}
		}
	}
	if !converged {
		rep.problem("under faults, %d rounds did not migrate every segment", rep.Rounds)
	}
	rep.PoisonedBeforeConverge, _ = r.direct.Count(r.ctx, broker.PoisonQueue(r.names.queue))
	return nil
}

// round runs one migrate, SIGKILLed when kills remain, and reports whether
// it drained the queue.
func (r *chaosRun) round(rng *rand.Rand) (drained bool, err error) {
	rep, cfg := r.rep, r.cfg
	p, err := r.off.Start(r.migrateArgs...)
	if err != nil {
		return false, err
	}
	kill := rep.Kills < cfg.Kills
	var at killAt
	if kill {
		at = killAt{requests: cfg.KillAfterMin + rng.Int64N(cfg.KillAfterMax-cfg.KillAfterMin+1),
			jitter: time.Duration(rng.Int64N(int64(cfg.KillJitter)))}
	}
	if err := waitRound(r.ctx, p, kill, at, cfg.RoundTimeout, r.blob); err != nil {
		return false, err
	}
	res := p.Wait()
	switch {
	case res.Killed && kill:
		rep.Kills++
		r.lastKill = time.Now()
		cfg.Logf("chaos: round %d: SIGKILL %s after its blob request %d", rep.Rounds, at.jitter.Round(time.Millisecond), at.requests)
		return false, nil
	case res.Killed:
		rep.problem("round %d: segments migrate still running after %s; killed", rep.Rounds, cfg.RoundTimeout)
		return false, nil
	}
	rep.NaturalExits++
	st := parseMigrate(res.Stdout)
	rep.MigrateFailed += st.failed
	rep.MigratePoisoned += st.poisoned
	cfg.Logf("chaos: round %d: exit %d after %s (migrated %d, failed attempts %d, poisoned %d)",
		rep.Rounds, res.Code, res.Wall.Round(time.Millisecond), st.migrated, st.failed, st.poisoned)
	if res.Code != 0 && st.failed == 0 && st.poisoned == 0 {
		// Not the failures of single messages that the queue retries:
		// the run itself stopped (a receive that failed every retry).
		cfg.Logf("chaos: round %d stopped: %s", rep.Rounds, tail(res.Stderr))
	}
	n, err := r.direct.Count(r.ctx, r.names.queue)
	if err != nil {
		return false, fmt.Errorf("chaos: count %s: %w", r.names.queue, err)
	}
	return n == 0, nil
}

// verifyUnderFaults runs the timer's pass after a round drained the queue,
// unless every segment is migrated (converged).
func (r *chaosRun) verifyUnderFaults() (converged bool, err error) {
	rep := r.rep
	states, err := statusStates(r.ctx, r.off)
	if err != nil {
		return false, err
	}
	if states["pending"]+states["queued"]+states["mismatch"] == 0 {
		return true, nil
	}
	// Let the last killed worker's claims expire, as the timer's schedule
	// would, then run its pass.
	r.waitOutClaims()
	vr, res, err := verify(r.ctx, r.off)
	if err != nil {
		return false, err
	}
	rep.FaultVerifyRuns++
	rep.FaultMismatched += vr.Mismatched
	rep.Requeued += vr.Requeued
	r.cfg.Logf("chaos: round %d: queue drained with %v; verify under faults: exit %d, verified %d, re-queued %d, mismatched %d",
		rep.Rounds, states, res.Code, vr.Verified, vr.Requeued, vr.Mismatched)
	return false, nil
}

// waitOutClaims waits until the last killed worker's claims have expired:
// they block its segments for ClaimTTL, as they would in production (a
// wall-clock time the claims are compared with, not a synchronisation).
func (r *chaosRun) waitOutClaims() {
	if wait := r.cfg.ClaimTTL - time.Since(r.lastKill); wait > 0 {
		time.Sleep(wait)
	}
}

// converge is step 4, faults off: verification re-queues what the kills
// and the poison queue left unmigrated, a final migrate drains it, until
// every segment is verified.
func (r *chaosRun) converge() error {
	rep := r.rep
	r.blob.SetRate(0)
	r.queue.SetRate(0)
	if r.tds != nil {
		r.tds.SetRate(0)
	}
	r.waitOutClaims() // so each pass below can make progress
	for i := 0; i < r.cfg.Converge; i++ {
		rep.VerifyRuns++
		vr, res, err := verify(r.ctx, r.off)
		if err != nil {
			return err
		}
		rep.Requeued += vr.Requeued
		rep.Mismatched += vr.Mismatched
		if res.Code != 0 {
			rep.problem("segments verify (faults off) failed: %s", res)
		}
		states, err := statusStates(r.ctx, r.off)
		if err != nil {
			return err
		}
		r.cfg.Logf("chaos: verify %d: verified %d, re-queued %d, states %v", rep.VerifyRuns, vr.Verified, vr.Requeued, states)
		if states["verified"] == rep.Segments {
			return nil
		}
		if vr.Requeued == 0 && states["migrated"] == 0 {
			// Nothing to migrate and nothing left to verify: stuck.
			rep.problem("verify re-queued nothing but only %d of %d segments are verified: %v", states["verified"], rep.Segments, states)
			return nil
		}
		rep.FinalMigrates++
		res, err = r.off.Run(r.ctx, r.cfg.RoundTimeout, r.migrateArgs...)
		if err != nil {
			return err
		}
		if res.Code != 0 {
			rep.problem("segments migrate (faults off) failed: %s", res)
		}
	}
	return nil
}

// figures adds up what the proxies saw (step 5 checks the outcome).
func (r *chaosRun) figures() {
	rep := r.rep
	for _, p := range []*faultproxy.Proxy{r.blob, r.queue} {
		s := p.Stats()
		rep.Requests += s.Requests
		rep.Retried += s.Retried
		for k, n := range s.Faults {
			rep.Faults[k.String()] += n
			rep.Faulted += n
		}
	}
	rep.BlobRequests, rep.QueueRequests = r.blob.Stats().Requests, r.queue.Stats().Requests
	rep.Catalog = catalogReport(r.cfg.Catalog, r.tds)
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
