package outbox_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/tests/benchmeter"
)

// The outbox benchmarks (make bench): drain throughput beside a raw
// SendMessage loop over the same queue with the same concurrency, the
// caller's publish, and commit-to-queue latency with the timer and with the
// kick. OFFLOAD_BENCH_SCALE=full sends more messages and uses the real
// 10-second OUTBOX_SCHEDULE.

func benchMessages() int {
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		return 20000
	}
	return 2000
}

// benchConversations spread the messages: per-conversation order leaves
// min(conversations, Concurrency) sends in flight.
const benchConversations = 64

func benchDoc(i int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":"bench-%06d","source":"/hartonomous/dbo/Atoms","type":"hartonomous.atom.updated","subject":"%d","datacontenttype":"application/json","data":{"atomId":%d,"modality":"model","operation":"update"}}`, i, i, i)
}

// BenchmarkRawSend is the ceiling: the rendered messages sent straight to
// the queue, Concurrency at a time, no catalog.
func BenchmarkRawSend(b *testing.B) {
	e := setup(b, embedded)
	if err := e.broker.Ensure(e.ctx, e.queue); err != nil {
		b.Fatal(err)
	}
	n := benchMessages()
	bodies := make([][]byte, n)
	for i := range bodies {
		body, err := outbox.Render(benchDoc(i), fmt.Sprintf("bench-%06d", i), int64(i/benchConversations+1), fmt.Sprintf("c%d", i%benchConversations))
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	// Warm-up, untimed: the connections a long-lived sender keeps.
	for _, body := range bodies[:50] {
		if _, err := e.broker.Publish(e.ctx, e.queue, body, 0); err != nil {
			b.Fatal(err)
		}
	}
	benchmeter.Quiesce(az.Get(b).Pids...)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		work := make(chan []byte)
		var wg sync.WaitGroup
		for range outbox.DefaultConcurrency {
			wg.Go(func() {
				for body := range work {
					if _, err := e.broker.Publish(e.ctx, e.queue, body, 0); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, body := range bodies {
			work <- body
		}
		close(work)
		wg.Wait()
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msg/s")
	}
}

// BenchmarkDrain: the same messages published to the outbox (untimed),
// then one Drain: sequencing, claims, sends in order per conversation,
// marks.
func BenchmarkDrain(b *testing.B) { benchDrain(b, embedded) }

// BenchmarkDrainTSQL is BenchmarkDrain on the T-SQL engine of
// MSSQL_TEST_DSN (skipped without it; see mssqltest).
func BenchmarkDrainTSQL(b *testing.B) {
	benchDrain(b, onServer)
}

func benchDrain(b *testing.B, o opener) {
	e := setup(b, o, func(c *outbox.Config) { c.Now = time.Now })
	if err := e.broker.Ensure(e.ctx, e.queue); err != nil {
		b.Fatal(err)
	}
	n := benchMessages()
	// Warm-up, untimed: a drain is a long-lived process, and a T-SQL
	// engine's first statements on fresh connections cost a second or more.
	publishBench(b, e, 0, 50)
	if res, err := e.svc.Drain(e.ctx, outbox.DrainParams{}); err != nil || res.Sent != 50 {
		b.Fatalf("warm-up drain: %+v, %v", res, err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		publishBench(b, e, 0, n)
		if db, ok := e.cat.(*mssql.DB); ok {
			mssqltest.SettleAutovacuum(b, db.SQL(), "OffloadOutbox")
		}
		benchmeter.Quiesce(az.Get(b).Pids...)
		b.StartTimer()
		start := time.Now()
		res, err := e.svc.Drain(e.ctx, outbox.DrainParams{})
		if err != nil || res.Sent != int64(n) {
			b.Fatalf("drain: %+v, %v", res, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msg/s")
	}
}

// publishBench publishes messages from..to-1, 50 per transaction.
func publishBench(b *testing.B, e *env, from, to int) {
	for i := from; i < to; i += 50 {
		tx, err := e.cat.BeginPublish(e.ctx)
		if err != nil {
			b.Fatal(err)
		}
		for j := i; j < min(i+50, to); j++ {
			if _, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: e.queue, ConversationID: fmt.Sprintf("c%d", j%benchConversations), Message: benchDoc(j)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish is the caller's side: BEGIN, usp_PublishMessage's Go
// twin, COMMIT on the embedded catalog, with no queue storage configured
// at all (a publish never reaches it).
func BenchmarkPublish(b *testing.B) {
	e := setup(b, embedded)
	const samples = 500
	b.ResetTimer()
	for range b.N {
		var lat []time.Duration
		for i := range samples {
			start := time.Now()
			tx, err := e.cat.BeginPublish(e.ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: e.queue, ConversationID: "c", Message: benchDoc(i)}); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		reportLatency(b, lat)
	}
}

// BenchmarkLatencyKick: commit, then the kick (what POST api/messages/drain
// runs), one message at a time; latency is commit to the queue's accept.
func BenchmarkLatencyKick(b *testing.B) {
	benchLatency(b, 0)
}

// BenchmarkLatencyTimer: messages committed at random moments, drained by a
// timer (2s period; 10s, the default OUTBOX_SCHEDULE, at full scale).
// Latency is bounded by the period: about half of it on average.
func BenchmarkLatencyTimer(b *testing.B) {
	period := 2 * time.Second
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		period = 10 * time.Second
	}
	benchLatency(b, period)
}

// benchLatency publishes samples messages and measures commit → accepted by
// the queue (the AfterSend hook's moment). period 0: kick after each
// commit; else a timer drains every period while messages are committed at
// random moments.
func benchLatency(b *testing.B, period time.Duration) {
	var mu sync.Mutex
	accepted := map[string]time.Time{}
	e := setup(b, embedded, func(c *outbox.Config) {
		c.Now = time.Now
		c.Hooks.AfterSend = func(r catalog.OutboxRow) error {
			mu.Lock()
			accepted[r.MessageID] = time.Now()
			mu.Unlock()
			return nil
		}
	})
	if err := e.broker.Ensure(e.ctx, e.queue); err != nil {
		b.Fatal(err)
	}
	samples := 100
	if period > 0 {
		samples = 20
	}
	rng := rand.New(rand.NewPCG(7, 7))
	b.ResetTimer()
	for round := range b.N {
		committed := map[string]time.Time{}
		stop := make(chan struct{})
		var timer sync.WaitGroup
		if period > 0 {
			timer.Go(func() {
				t := time.NewTicker(period)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						if _, err := e.svc.Drain(e.ctx, outbox.DrainParams{}); err != nil {
							b.Error(err)
						}
					}
				}
			})
		}
		for i := range samples {
			if period > 0 {
				time.Sleep(time.Duration(rng.Int64N(int64(period))))
			}
			tx, err := e.cat.BeginPublish(e.ctx)
			if err != nil {
				b.Fatal(err)
			}
			id, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: e.queue, ConversationID: fmt.Sprintf("c%d", i%8), Message: benchDoc(round*samples + i)})
			if err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			committed[id] = time.Now()
			if period == 0 {
				if _, err := e.svc.Drain(e.ctx, outbox.DrainParams{Budget: 10 * time.Second}); err != nil {
					b.Fatal(err)
				}
			}
		}
		// Let the timer take the last ones.
		deadline := time.Now().Add(2*period + 10*time.Second)
		for {
			mu.Lock()
			done := true
			for id := range committed {
				if _, ok := accepted[id]; !ok {
					done = false
				}
			}
			mu.Unlock()
			if done || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		timer.Wait()
		var lat []time.Duration
		mu.Lock()
		for id, c := range committed {
			a, ok := accepted[id]
			if !ok {
				b.Fatalf("message %s never reached the queue", id)
			}
			lat = append(lat, a.Sub(c))
		}
		mu.Unlock()
		reportLatency(b, lat)
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 {
		i := min(len(lat)-1, int(p*float64(len(lat))))
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
