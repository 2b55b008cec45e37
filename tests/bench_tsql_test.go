package tests

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/demo"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/tests/benchmeter"
)

// tsqlBench is a throwaway T-SQL database seeded with a migration data set:
// 1–10 MB payloads plus one large one (quick: 96 MiB + 32 MiB; with
// OFFLOAD_BENCH_SCALE=full the 1 GiB + 256 MiB).
type tsqlBench struct {
	dsn   string
	cat   *mssql.DB
	ids   []int64
	sizes []int64
	total int64
}

var tsqlSet struct {
	once sync.Once
	b    *tsqlBench
	err  error
}

const benchDBPrefix = "offload_bench_"

// dropStaleBenchDatabases drops the databases earlier benchmark runs left.
func dropStaleBenchDatabases(b *testing.B, dsn string) {
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sys.databases WHERE name LIKE @p1", benchDBPrefix+"%")
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil && regexp.MustCompile(`^offload_bench_[0-9a-f]+$`).MatchString(n) {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names { // n matched the pattern above: safe as text
		if _, err := db.Exec("DROP DATABASE " + n); err != nil {
			b.Logf("drop stale %s: %v", n, err)
		}
	}
}

// tsqlData seeds once per benchmark binary: seeding 1 GiB over TDS takes
// minutes, and every T-SQL benchmark reads the same rows.
func tsqlData(b *testing.B) *tsqlBench {
	b.Helper()
	dsn := mssqltest.DSN(b)
	tsqlSet.once.Do(func() {
		// One database for every T-SQL benchmark of this run (seeding 1 GiB
		// over TDS takes minutes). A benchmark has no hook at the binary's
		// exit, so the database stays until the next run, which drops the
		// ones earlier runs left first.
		dropStaleBenchDatabases(b, dsn)
		var db string
		db, _, tsqlSet.err = mssqltest.CreateDatabase(dsn, benchDBPrefix)
		if tsqlSet.err == nil {
			tsqlSet.b, tsqlSet.err = seedTSQL(db)
		}
	})
	if tsqlSet.err != nil {
		b.Fatal(tsqlSet.err)
	}
	return tsqlSet.b
}

func seedTSQL(dsn string) (*tsqlBench, error) {
	ctx := context.Background()
	cat, err := mssql.Open(ctx, dsn, mssql.Options{})
	if err != nil {
		return nil, err
	}
	if err := cat.PrepareSeed(ctx); err != nil {
		return nil, err
	}
	if _, err := cat.Apply(ctx, catalog.ApplyParams{}); err != nil {
		return nil, err
	}
	mix, large := int64(96<<20), int64(32<<20)
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		mix, large = 1<<30, 256<<20
	}
	sizes := []int64{large}
	for sum, i := int64(0), int64(0); sum < mix; i++ {
		n := min(int64(1_000_000)+(i*2654435761)%9_000_000, mix-sum)
		sizes = append(sizes, n)
		sum += n
	}
	m, err := cat.InsertModel(ctx, catalog.NewModel{Name: "bench", Type: "llama4"})
	if err != nil {
		return nil, err
	}
	l, err := cat.InsertLayer(ctx, catalog.NewLayer{ModelID: m, LayerIdx: 0, QuantizationType: "Q4_K_M"})
	if err != nil {
		return nil, err
	}
	tb := &tsqlBench{dsn: dsn, cat: cat, sizes: sizes}
	for i, n := range sizes {
		id, err := cat.InsertSegment(ctx, catalog.NewSegment{LayerID: l, SegmentOrdinal: int64(i), QuantizationType: "Q4_K_M",
			Payload: demo.Payload(5, m, l, int64(i), n), Size: n})
		if err != nil {
			return nil, err
		}
		tb.ids = append(tb.ids, id)
		tb.total += n
	}
	return tb, nil
}

// reset puts every row back to unmigrated, so the next round migrates again.
func (tb *tsqlBench) reset(b *testing.B) {
	ctx := context.Background()
	for _, id := range tb.ids {
		seg, err := tb.cat.GetSegment(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if seg.BlobETag != "" {
			if err := tb.cat.ResetBlob(ctx, catalog.ResetBlobParams{ID: id, ExpectETag: seg.BlobETag, Reason: "bench", Now: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkTSQLMigrate: `offload segments migrate` (the real binary, 4
// workers) from the T-SQL catalog, at catalog chunk = block size 1, 4 and
// 8 MiB, with the process's peak RSS.
func BenchmarkTSQLMigrate(b *testing.B) {
	tb := tsqlData(b)
	for _, mib := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("chunk=%dMiB", mib), func(b *testing.B) {
			b.SetBytes(tb.total)
			var peak int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tb.reset(b)
				env := map[string]string{
					"SQL_CONNECTION_STRING": tb.dsn,
					"AzureWebJobsStorage":   az.ConnectionString,
					"TENSORS_CONTAINER":     fmt.Sprintf("tsqlb-%d-%d-%d", mib, i, time.Now().UnixNano()%1e9),
					"SEGMENT_QUEUE":         fmt.Sprintf("tsqlq-%d-%d-%d", mib, i, time.Now().UnixNano()%1e9),
				}
				if out, err := benchCmd(env, "segments", "enqueue").CombinedOutput(); err != nil {
					b.Fatalf("enqueue: %v\n%s", err, out)
				}
				_ = exec.Command("sync").Run()
				cmd := benchCmd(env, "segments", "migrate", "--workers", "4", "--block-size-mib", fmt.Sprint(mib))
				peak = max(peak, timedMigrate(b, cmd))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// BenchmarkTSQLMigrateLargeRSS: the large payload alone (--id), default
// settings: peak RSS must not depend on the payload's size.
func BenchmarkTSQLMigrateLargeRSS(b *testing.B) {
	tb := tsqlData(b)
	id, size := tb.ids[0], tb.sizes[0]
	b.SetBytes(size)
	var peak int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tb.reset(b)
		env := map[string]string{"SQL_CONNECTION_STRING": tb.dsn, "AzureWebJobsStorage": az.ConnectionString,
			"TENSORS_CONTAINER": fmt.Sprintf("tsqlrss-%d-%d", i, time.Now().UnixNano()%1e9)}
		cmd := benchCmd(env, "segments", "migrate", "--id", fmt.Sprint(id))
		peak = max(peak, timedMigrate(b, cmd))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(size)/(1<<20), "payload-MiB")
}

// BenchmarkTSQLRawUpload: the same bytes uploaded straight from memory
// (default block size and concurrency, 4 at a time): the storage ceiling.
func BenchmarkTSQLRawUpload(b *testing.B) {
	tb := tsqlData(b)
	ctx := context.Background()
	blobs, err := blobstore.New(config.Storage{ConnectionString: az.ConnectionString}, blobstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	container := fmt.Sprintf("tsqlraw-%d", time.Now().UnixNano()%1e9)
	if err := blobs.EnsureContainer(ctx, container); err != nil {
		b.Fatal(err)
	}
	bufs := make([][]byte, len(tb.ids))
	for i, n := range tb.sizes {
		bufs[i], _ = io.ReadAll(io.LimitReader(demo.Payload(5, 1, 1, int64(i), n), n))
	}
	b.SetBytes(tb.total)
	_ = exec.Command("sync").Run()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchmeter.InParallel(b, 4, len(bufs), func(k int) error {
			_, err := blobs.Upload(ctx, container, fmt.Sprintf("raw/%d-%d.bin", i, k), bytes.NewReader(bufs[k]),
				blobstore.UploadOptions{BlockSize: segments.DefaultBlockSize, Concurrency: segments.DefaultConcurrency})
			return err
		})
	}
}

// BenchmarkTSQLSelectRawPayload: a plain `SELECT RawPayload` of every row
// over TDS (the driver buffers each value whole), 4 at a time: the
// catalog's ceiling.
func BenchmarkTSQLSelectRawPayload(b *testing.B) {
	tb := tsqlData(b)
	db, err := sql.Open("sqlserver", tb.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.SetBytes(tb.total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchmeter.InParallel(b, 4, len(tb.ids), func(k int) error {
			var p []byte
			return db.QueryRow("SELECT RawPayload FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p1", tb.ids[k]).Scan(&p)
		})
	}
}

// timedMigrate runs a `segments migrate` command inside the timer and
// returns its peak RSS; a failed run fails the benchmark with its output.
func timedMigrate(b *testing.B, cmd *exec.Cmd) int64 {
	b.StartTimer()
	hwm, out, err := runPeakRSS(cmd)
	b.StopTimer()
	if err != nil {
		b.Fatalf("migrate: %v\n%s", err, out)
	}
	return hwm
}

// runPeakRSS runs cmd and returns its peak resident set (bytes), read from
// /proc/<pid>/status VmHWM while it runs. Not rusage: Linux carries a
// process's maxrss over fork and exec, so a child of this test process
// (which holds the benchmark's data) would report the parent's peak.
// VmHWM belongs to the new address space and only grows; polled every
// 10 ms, the last reading misses at most the final moments.
func runPeakRSS(cmd *exec.Cmd) (int64, []byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return peak, out.Bytes(), err
		case <-tick.C:
			if b, err := os.ReadFile(status); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
							peak = max(peak, kb<<10)
						}
					}
				}
			}
		}
	}
}

// benchCmd is the binary with env on top of the inherited environment.
func benchCmd(env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(binPath, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}
