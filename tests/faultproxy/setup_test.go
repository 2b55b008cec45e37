package faultproxy_test

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/tests/faultproxy"
)

// az is the test binary's Azurite, started by the first test that needs
// it: the chooser's unit tests do not.
var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

// env is a blob proxy and a queue proxy in front of Azurite.
type env struct {
	blob, queue *faultproxy.Proxy
	// cs goes through the proxies, direct straight to Azurite.
	cs, direct string
	// name is a container / queue name of the test's own.
	name string
}

var seq atomic.Int64

// setup starts a blob and a queue proxy with cfg (its Target is filled in);
// both stop when the test ends.
func setup(t *testing.T, cfg faultproxy.Config) env {
	t.Helper()
	s := az.Get(t)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	start := func(port int) *faultproxy.Proxy {
		c := cfg
		c.Target = fmt.Sprintf("http://127.0.0.1:%d", port)
		p, err := faultproxy.Start(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	e := env{blob: start(s.BlobPort), queue: start(s.QueuePort), direct: s.ConnectionString}
	e.cs = faultproxy.DevConnectionString(e.blob.URL(), e.queue.URL())
	n := strings.Trim(strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")), "-")
	if len(n) > 40 {
		n = n[:40]
	}
	e.name = strings.Trim(fmt.Sprintf("%s-%d", n, seq.Add(1)), "-")
	return e
}
