package broker

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/config"
)

// az is the test binary's Azurite, started by the first test that needs it.
var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

var seq atomic.Int64

// setup returns a Client and an empty queue of the test's own (with room
// for the -poison suffix): the tests share nothing else, and run in
// parallel (most of their time is spent waiting out visibility timeouts).
func setup(t *testing.T) (*Client, string) {
	t.Helper()
	c, err := New(config.Storage{ConnectionString: az.Get(t).ConnectionString}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Trim(strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(fmt.Sprintf("%s-%d", name, seq.Add(1)), "-")
	if err := c.Ensure(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return c, name
}

// raw is a plain azqueue client, to see and write the stored text directly.
func raw(t *testing.T, queue string) *azqueue.QueueClient {
	t.Helper()
	q, err := azqueue.NewQueueClientFromConnectionString(az.Get(t).ConnectionString, queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func count(t *testing.T, c *Client, queue string) int64 {
	t.Helper()
	n, err := c.Count(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
