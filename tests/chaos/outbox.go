package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hartonomous/offload/inbox"
	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/engines"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/faultproxy"
	"github.com/hartonomous/offload/tests/tdsproxy"
)

// OutboxConfig is one outbox chaos run: messages published to the embedded
// catalog's outbox, `offload messages drain` SIGKILLed again and again
// while it sends them through a fault-injecting queue proxy, then two
// drainers racing to finish. The checks read the queue itself.
type OutboxConfig struct {
	Bin     string
	Azurite *azurite.Server
	Dir     string
	// CatalogDSN is the catalog's connection string; empty means an
	// embedded catalog in Dir. A T-SQL catalog must be an empty database
	// (the demo creates the Hartonomous tables).
	CatalogDSN string
	// Name makes the queue unique on a shared Azurite.
	Name string
	Seed int64
	// Messages over Conversations (300 over 12).
	Messages, Conversations int
	// Kills SIGKILLs (5), each after a seeded number (KillAfterMin..Max,
	// 5..40) of queue requests: sends whose rows are not marked yet.
	Kills                      int
	KillAfterMin, KillAfterMax int64
	// FaultRate of the queue proxy while killing (0.10; negative: none).
	FaultRate float64
	// Catalog are the faults of a T-SQL catalog's connections while
	// killing (none; an Outage starts at the first segment claim, which an
	// outbox run never makes: use Rate).
	Catalog CatalogFaults
	// ClaimTTL is drain --claim-ttl: how soon a killed drainer's rows are
	// sent again (1s).
	ClaimTTL time.Duration
	Logf     func(format string, args ...any)
}

// OutboxReport is what the run found.
type OutboxReport struct {
	Published, Conversations int
	Kills, KillsPlanned      int
	// Unmarked is, for each killed drain, the messages it put on the queue
	// minus the rows it marked sent: sends whose mark the kill prevented
	// (and re-sends after a lost answer).
	Unmarked []int64
	Requests int64
	Faulted  int64
	// Received messages on the queue; Duplicates of them repeat an id
	// already received (with the same sequence and body, or it is a
	// problem).
	Received, Duplicates int
	// Delivered by inbox.Buffer: each event once, in order.
	Delivered int
	// Catalog is what the TDS fault proxy did while killing (nil: none).
	Catalog  *CatalogReport
	Problems []string
}

func (r *OutboxReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (c *OutboxConfig) defaults() error {
	if c.Bin == "" || c.Azurite == nil || c.Dir == "" {
		return errors.New("chaos: Bin, Azurite and Dir are required")
	}
	if c.Name == "" {
		c.Name = "outbox-chaos"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Messages <= 0 {
		c.Messages = 300
	}
	if c.Conversations <= 0 {
		c.Conversations = 12
	}
	if c.Kills <= 0 {
		c.Kills = 5
	}
	if c.KillAfterMin <= 0 {
		c.KillAfterMin = 5
	}
	if c.KillAfterMax < c.KillAfterMin {
		c.KillAfterMax = max(40, c.KillAfterMin)
	}
	switch {
	case c.FaultRate == 0:
		c.FaultRate = 0.10
	case c.FaultRate < 0:
		c.FaultRate = 0
	}
	if c.ClaimTTL <= 0 {
		c.ClaimTTL = time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// published is one message the run published: its id, its conversation and
// its place there (publish order, which is commit order here).
type published struct {
	conv string
	seq  int64
}

// RunOutbox does one outbox chaos run.
func RunOutbox(ctx context.Context, cfg OutboxConfig) (*OutboxReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r, err := startOutboxRun(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	// 1. Publish, a few messages per transaction, conversations interleaved.
	want, err := publishAll(ctx, r.cat, r.queue, cfg)
	if err != nil {
		return nil, err
	}
	r.rep.Published = len(want)
	if err := r.killDrains(); err != nil {
		return r.rep, err
	}
	if err := r.raceDrains(); err != nil {
		return r.rep, err
	}
	st := r.proxy.Stats()
	r.rep.Requests, r.rep.Faulted = st.Requests, st.Faulted()
	// 4. The queue, read directly: nothing lost, duplicates only equal, and
	//    the consumer rule delivers each message once, in order.
	return r.rep, checkQueue(ctx, r.direct, r.queue, want, r.rep)
}

// outboxRun is the state of one RunOutbox: the fault proxy in front of the
// queue service, the offload binary behind it, and the catalog.
type outboxRun struct {
	ctx       context.Context
	cfg       OutboxConfig
	rep       *OutboxReport
	proxy     *faultproxy.Proxy
	tds       *tdsproxy.Proxy // the catalog's faults while killing (nil: none)
	queue     string
	off       Offload // through the proxies
	cat       catalog.Catalog
	direct    *broker.Client // the queue without faults
	drainArgs []string
}

// startOutboxRun starts the proxy and creates the schema (on T-SQL the demo
// creates the Hartonomous tables the schema step needs; SQLite's schema
// step creates them itself); the schema step adds the outbox and its
// procedure.
func startOutboxRun(ctx context.Context, cfg OutboxConfig) (_ *outboxRun, err error) {
	r := &outboxRun{ctx: ctx, cfg: cfg, queue: "obq-" + cfg.Name,
		rep:       &OutboxReport{Conversations: cfg.Conversations, KillsPlanned: cfg.Kills},
		drainArgs: []string{"messages", "drain", "--claim-ttl", cfg.ClaimTTL.String()}}
	r.proxy, err = faultproxy.Start(faultproxy.Config{Target: fmt.Sprintf("http://127.0.0.1:%d", cfg.Azurite.QueuePort),
		Seed: cfg.Seed, Rate: cfg.FaultRate})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	dsn := cfg.CatalogDSN
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(cfg.Dir, "catalog.db")
	}
	tds, workDSN, err := catalogProxy(cfg.Catalog, dsn, cfg.Seed+2, 0)
	if err != nil {
		return nil, err
	}
	r.tds = tds
	setup := Offload{Bin: cfg.Bin, Dir: cfg.Dir, Env: map[string]string{
		"SQL_CONNECTION_STRING": dsn,
		"AzureWebJobsStorage":   faultproxy.DevConnectionString(fmt.Sprintf("http://127.0.0.1:%d", cfg.Azurite.BlobPort), r.proxy.URL()),
		"PUBLISH_QUEUES":        r.queue,
	}}
	// The drains reach the catalog through the TDS proxy, when there is one.
	r.off = Offload{Bin: cfg.Bin, Dir: cfg.Dir, Env: maps.Clone(setup.Env)}
	r.off.Env["SQL_CONNECTION_STRING"] = workDSN
	steps := [][]string{{"schema", "apply"}}
	if cfg.CatalogDSN != "" {
		steps = append([][]string{{"demo", "seed", "--small", "--files-dir", filepath.Join(cfg.Dir, "models")}}, steps...)
	}
	for _, args := range steps {
		if res, err := setup.Run(ctx, 5*time.Minute, args...); err != nil || res.Code != 0 {
			return nil, fmt.Errorf("chaos: %v: %v %s", args, err, res)
		}
	}
	if r.cat, err = engines.Open(ctx, dsn); err != nil {
		return nil, err
	}
	r.direct, err = broker.New(config.Storage{ConnectionString: cfg.Azurite.ConnectionString}, broker.Options{})
	return r, err
}

func (r *outboxRun) close() {
	if r.cat != nil {
		r.cat.Close()
	}
	r.proxy.Close()
	if r.tds != nil {
		r.tds.Close()
	}
}

// killDrains is step 2: drain, SIGKILLed after a seeded number of queue
// requests, Kills times.
func (r *outboxRun) killDrains() error {
	ctx, cfg, rep := r.ctx, r.cfg, r.rep
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x0b0c))
	for rep.Kills < cfg.Kills {
		queuedBefore, sentBefore, err := progressOf(ctx, r.direct, r.cat, r.queue)
		if err != nil {
			return err
		}
		after := cfg.KillAfterMin + rng.Int64N(cfg.KillAfterMax-cfg.KillAfterMin+1)
		killed, err := r.drainUntil(after)
		if err != nil || !killed {
			return err
		}
		rep.Kills++
		queuedAfter, sentAfter, err := progressOf(ctx, r.direct, r.cat, r.queue)
		if err != nil {
			return err
		}
		unmarked := (queuedAfter - queuedBefore) - (sentAfter - sentBefore)
		rep.Unmarked = append(rep.Unmarked, unmarked)
		cfg.Logf("chaos: outbox: kill %d after %d queue requests: %d message(s) on the queue without their row marked sent", rep.Kills, after, unmarked)
		// The dead drainer's claims expire after ClaimTTL of wall-clock
		// time, as they would in production: waited out, not synchronised.
		time.Sleep(cfg.ClaimTTL)
	}
	return nil
}

// drainUntil runs a drain and SIGKILLs it once the proxy has seen after
// more queue requests; killed is false when it ended before.
func (r *outboxRun) drainUntil(after int64) (killed bool, err error) {
	p, err := r.off.Start(r.drainArgs...)
	if err != nil {
		return false, err
	}
	base := r.proxy.Stats().Requests
	for !killed {
		select {
		case <-p.Done():
		case <-r.ctx.Done():
			p.Kill()
			p.Wait()
			return false, r.ctx.Err()
		case <-time.After(2 * time.Millisecond):
			if r.proxy.Stats().Requests-base >= after {
				p.Kill()
				killed = true
			}
			continue
		}
		break
	}
	res := p.Wait()
	if !res.Killed {
		r.cfg.Logf("chaos: outbox: the drain ended before its kill (exit %d): %s", res.Code, tail(res.Stdout+res.Stderr))
	}
	return res.Killed, nil
}

// raceDrains is step 3: faults off, two drainers race to finish.
func (r *outboxRun) raceDrains() error {
	r.proxy.SetRate(0)
	if r.tds != nil {
		r.rep.Catalog = catalogReport(r.cfg.Catalog, r.tds)
		r.tds.SetRate(0)
	}
	time.Sleep(r.cfg.ClaimTTL) // the last killed drainer's claims expire
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for range 2 {
			wg.Go(func() {
				res, err := r.off.Run(r.ctx, 2*time.Minute, r.drainArgs...)
				if err != nil || res.Code != 0 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%v %s", err, res))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		pending, err := pendingRows(r.ctx, r.cat)
		if err != nil {
			return err
		}
		if pending == 0 {
			for _, f := range failures {
				r.rep.problem("racing drain failed: %s", f)
			}
			return nil
		}
		if round >= 10 {
			r.rep.problem("%d rows still pending after %d racing rounds; last failures %v", pending, round+1, failures)
			return nil
		}
		time.Sleep(1500 * time.Millisecond) // rows in back-off after a fault wait RetryMin
	}
}

func publishAll(ctx context.Context, cat catalog.Catalog, queue string, cfg OutboxConfig) (map[string]published, error) {
	want := map[string]published{}
	next := map[string]int64{}
	for i := 0; i < cfg.Messages; {
		tx, err := cat.BeginPublish(ctx)
		if err != nil {
			return nil, err
		}
		for k := 0; k < 5 && i < cfg.Messages; k, i = k+1, i+1 {
			conv := fmt.Sprintf("atom:%d", i%cfg.Conversations)
			id := fmt.Sprintf("ev-%04d", i)
			doc := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/hartonomous/dbo/Atoms","type":"hartonomous.atom.updated","subject":%q,"data":{"n":%d}}`, id, conv, i)
			if _, err := tx.Publish(ctx, catalog.OutboxMessage{Queue: queue, ConversationID: conv, Message: doc}); err != nil {
				tx.Rollback()
				return nil, err
			}
			next[conv]++
			want[id] = published{conv: conv, seq: next[conv]}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	return want, nil
}

// outboxCount adds up the rows in state.
func outboxCount(ctx context.Context, cat catalog.Catalog, state catalog.OutboxState) (int64, error) {
	cs, err := cat.OutboxStatus(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range cs {
		if c.State == state {
			n += c.Rows
		}
	}
	return n, nil
}

// pendingRows counts outbox rows not sent yet.
func pendingRows(ctx context.Context, cat catalog.Catalog) (int64, error) {
	return outboxCount(ctx, cat, catalog.OutboxPending)
}

// progressOf is the queue's message count and the outbox's sent rows.
func progressOf(ctx context.Context, b *broker.Client, cat catalog.Catalog, queue string) (queued, sent int64, err error) {
	if queued, err = b.Count(ctx, queue); errors.Is(err, broker.ErrNotFound) {
		queued, err = 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	sent, err = outboxCount(ctx, cat, catalog.OutboxSent)
	return queued, sent, err
}

func checkQueue(ctx context.Context, b *broker.Client, queue string, want map[string]published, rep *OutboxReport) error {
	first := map[string]inbox.Event{}
	box := inbox.NewBuffer()
	delivered := map[string][]int64{}
	for {
		msgs, err := b.Receive(ctx, queue, 32, 5*time.Minute)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			rep.Received++
			e, err := inbox.ParseEvent(m.Body)
			if err != nil {
				rep.problem("message %s: %v", m.ID, err)
				continue
			}
			w, ok := want[e.ID]
			switch {
			case !ok:
				rep.problem("message %q was never published", e.ID)
			case e.Conversation != w.conv || e.Sequence != w.seq:
				rep.problem("message %q arrived as %s #%d, published as %s #%d", e.ID, e.Conversation, e.Sequence, w.conv, w.seq)
			}
			if prev, dup := first[e.ID]; dup {
				rep.Duplicates++
				if prev.Sequence != e.Sequence || string(prev.Body) != string(e.Body) {
					rep.problem("message %q was sent twice, differently: %s / %s", e.ID, prev.Body, e.Body)
				}
			} else {
				first[e.ID] = e
			}
			var doc map[string]json.RawMessage
			if json.Unmarshal(e.Body, &doc) != nil || doc["sequence"] == nil {
				rep.problem("message %q has no sequence attribute: %s", e.ID, e.Body)
			}
			ready, err := box.Offer(e)
			if err != nil {
				rep.problem("%v", err)
			}
			for _, r := range ready {
				delivered[r.Conversation] = append(delivered[r.Conversation], r.Sequence)
				rep.Delivered++
			}
			if err := b.Complete(ctx, m); err != nil {
				return err
			}
		}
	}
	for id := range want {
		if _, ok := first[id]; !ok {
			rep.problem("message %q was LOST: published, committed, never on the queue", id)
		}
	}
	for conv, seqs := range delivered {
		if !slices.IsSorted(seqs) || int(seqs[len(seqs)-1]) != len(seqs) {
			rep.problem("conversation %s delivered out of order or with a gap: %v", conv, seqs)
		}
	}
	if box.Held() > 0 {
		rep.problem("%d events still wait for an earlier one: a gap in a conversation", box.Held())
	}
	if rep.Delivered != len(want) {
		rep.problem("the consumer applied %d events, want %d", rep.Delivered, len(want))
	}
	return nil
}
