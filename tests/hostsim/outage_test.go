package hostsim_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/hostsim"
	"github.com/hartonomous/offload/tests/tdsproxy"
)

// A 30 s outage of the T-SQL catalog (every connection reset, every new
// one refused: a failover) that starts at the first segment claim of the
// queue-triggered migration, as the host runs it: the invocations ride it
// out within their deadline, every segment is migrated, no delivery fails
// and nothing reaches the poison queue.
func TestCatalogOutageThroughTheHostOnTSQL(t *testing.T) {
	a := newApp(t, nil)
	dsn := mssqltest.Database(t)
	a.settings["SQL_CONNECTION_STRING"] = dsn
	a.cli("demo", "seed", "--small", "--files-dir", filepath.Join(a.dir, ".offload", "models"))
	a.cli("schema", "apply")
	p, via, err := tdsproxy.StartFor(dsn, tdsproxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	a.settings["SQL_CONNECTION_STRING"] = via
	p.DownAt("LayerTensorSegments SET ClaimToken", 30*time.Second)
	h := a.mustStart(hostsim.Config{})

	code, body := h.do(t, "POST", "/api/segments/enqueue", []byte(`{}`), false)
	if code != http.StatusOK {
		t.Fatalf("EnqueueSegments: %d %s", code, body)
	}
	eventually(t, 5*time.Minute, "every segment migrated through the outage", func() bool {
		st, total := h.status(t)
		return total > 0 && st["migrated"] == total
	})
	if p.Outages() != 1 || p.Stats().Refused == 0 {
		t.Fatalf("the outage did not happen: %+v", p.Stats())
	}
	for _, inv := range h.Invocations("MigrateSegment") {
		if !inv.Succeeded() {
			t.Errorf("MigrateSegment invocation failed: %s %s", inv, inv.Body)
		}
	}
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if poisoned, _ := b.Peek(context.Background(), a.settings["SEGMENT_QUEUE"]+"-poison", 32); len(poisoned) != 0 {
		t.Fatalf("%d message(s) poisoned by the outage", len(poisoned))
	}
}
