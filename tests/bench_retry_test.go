package tests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/engines"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/tests/benchmeter"
	"github.com/hartonomous/offload/tests/tdsproxy"
)

// retryBench is the segments service over the T-SQL bench data set, its
// catalog opened from dsn bare or with the retry policy.
func retryBench(b *testing.B, dsn string, bare bool) (*segments.Service, catalog.Catalog) {
	b.Helper()
	ctx := context.Background()
	cat, err := engines.OpenWith(ctx, dsn, engines.Options{NoRetry: bare})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cat.Close() })
	blobs, err := blobstore.New(config.Storage{ConnectionString: az.ConnectionString}, blobstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	container := fmt.Sprintf("retryb-%d", time.Now().UnixNano()%1e12)
	if err := blobs.EnsureContainer(ctx, container); err != nil {
		b.Fatal(err)
	}
	svc, err := segments.New(segments.Config{Catalog: cat, Blobs: blobs, Container: container})
	if err != nil {
		b.Fatal(err)
	}
	return svc, cat
}

// migrateAll migrates ids, four at a time.
func migrateAll(b *testing.B, svc *segments.Service, ids []int64) {
	benchmeter.InParallel(b, 4, len(ids), func(k int) error {
		_, err := svc.Migrate(context.Background(), ids[k])
		return err
	})
}

// BenchmarkTSQLMigrateRetry: the migration of the T-SQL data set in
// process, four segments at a time, with the catalog bare (retry=off, as
// before the retry layer) and wrapped in it (retry=on), no fault: the
// layer must cost nothing measurable (MB/s and cpu-s/GB within the
// rounds' spread; benchtable -count interleaves the rounds).
func BenchmarkTSQLMigrateRetry(b *testing.B) {
	tb := tsqlData(b)
	for _, mode := range benchmeter.Alternating("off", "on") {
		b.Run("retry="+mode, func(b *testing.B) {
			svc, _ := retryBench(b, tb.dsn, mode == "off")
			b.SetBytes(tb.total)
			m := benchmeter.New(az.Pids...)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m.Stop()
				tb.reset(b)
				benchmeter.Quiesce(az.Pids...)
				m.Start()
				b.StartTimer()
				migrateAll(b, svc, tb.ids)
			}
			b.StopTimer()
			m.Report(b, tb.total*int64(b.N))
		})
	}
}

// BenchmarkTSQLOutageRecovery: a 30 s outage of the catalog (the TDS proxy
// resets every connection and refuses new ones, a failover) with four
// workers waiting to migrate; recover-s is the time from the end of the
// outage to the first segment migrated. The retries' waits (5 s, then
// 10 s, each up to 25% longer) bound it at about 12.5 s.
func BenchmarkTSQLOutageRecovery(b *testing.B) {
	tb := tsqlData(b)
	const outage = 30 * time.Second
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tb.reset(b)
		p, via, err := tdsproxy.StartFor(tb.dsn, tdsproxy.Config{})
		if err != nil {
			b.Fatal(err)
		}
		svc, _ := retryBench(b, via, false)
		first := make(chan time.Time, 1)
		var once sync.Once
		b.StartTimer()
		p.SetDown(true)
		ended := make(chan time.Time, 1)
		go func() {
			time.Sleep(outage) // the outage itself: what is measured comes after it
			t := time.Now()
			p.SetDown(false)
			ended <- t
		}()
		benchmeter.InParallel(b, 4, len(tb.ids), func(k int) error {
			_, err := svc.Migrate(context.Background(), tb.ids[k])
			if err == nil {
				once.Do(func() { first <- time.Now() })
			}
			return err
		})
		total += (<-first).Sub(<-ended)
		b.StopTimer()
		p.Close()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "recover-s")
}
