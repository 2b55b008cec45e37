// Package app wires Offload together from a Config: the catalog, the storage
// clients and the domain services. The binary (handler/) and the end-to-end
// tests both build their world here, so there is one wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hartonomous/offload/functions"
	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/engines"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/dashboard"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/internal/location"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/internal/publish"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// Tuning is what the command line may change; zero values take defaults.
type Tuning struct {
	BlockSize   int64
	Concurrency int
	// ClaimTTL is how long a killed worker's claim on a segment blocks
	// the others (segments.DefaultClaimTTL when zero).
	ClaimTTL time.Duration
	// OutboxClaimTTL is how long a killed drainer's claims on outbox rows
	// hold them (outbox.DefaultClaimTTL when zero).
	OutboxClaimTTL time.Duration
	// RetryBudget bounds how long one catalog operation retries transient
	// faults (the commands' --retry-budget; 3 minutes when zero). An
	// invocation's deadline bounds it too.
	RetryBudget time.Duration
}

// OpenCatalog opens the catalog cfg names with the retry policy, t's
// budget and cfg's cap on payload readers.
func OpenCatalog(ctx context.Context, cfg config.Config, log *slog.Logger, t Tuning) (catalog.Catalog, error) {
	return engines.OpenWith(ctx, cfg.SQL, catalogOptions(cfg, log, t))
}

func catalogOptions(cfg config.Config, log *slog.Logger, t Tuning) engines.Options {
	return engines.Options{Logger: log, RetryBudget: t.RetryBudget, PayloadReaders: cfg.PayloadReaders}
}

// App is a wired Offload.
type App struct {
	Config config.Config
	// Host is host.json as the Functions host applies it (serve mode).
	Host     config.Host
	Log      *slog.Logger
	Catalog  catalog.Catalog
	Blobs    *blobstore.Client
	Broker   *broker.Client
	Segments *segments.Service
	Atoms    *atoms.Service
	Files    *files.Service
	// Index finds migrated atom files by their old paths (Files reads it,
	// the atom uploads write it).
	Index   *location.Index
	Publish *publish.Service
	Outbox  *outbox.Service
	// Dashboard is the live migration page (the Dashboard function and
	// `offload dashboard`).
	Dashboard *dashboard.Service
}

// Open connects to the catalog and storage and builds the services. It does
// not change anything (no schema, no containers): see Prepare.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, t Tuning) (*App, error) {
	cat, err := OpenCatalog(ctx, cfg, log, t)
	if err != nil {
		return nil, fmt.Errorf("catalog (%s): %w", config.SettingSQL, err)
	}
	a, err := openStorage(cfg, log)
	if err != nil {
		cat.Close()
		return nil, err
	}
	return a.withCatalog(cat, t)
}

// openStorage builds the storage clients and the services that need
// nothing else (Files, Publish). No request is made.
func openStorage(cfg config.Config, log *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Log: log}
	var err error
	if a.Blobs, err = blobstore.New(cfg.Storage, blobstore.Options{}); err != nil {
		return nil, fmt.Errorf("blob storage (%s): %w", config.SettingStorage, err)
	}
	if a.Broker, err = broker.New(cfg.Storage, broker.Options{}); err != nil {
		return nil, fmt.Errorf("queue storage (%s): %w", config.SettingStorage, err)
	}
	a.Index = location.NewIndex(a.Blobs, cfg.AtomsContainer, cfg.ModelsContainer, cfg.AtomsContainer)
	a.Files = files.New(files.Config{Blobs: a.Blobs, Roots: cfg.FilesRoots, Index: a.Index, Logger: log})
	a.Publish = publish.New(publish.Config{Broker: a.Broker, Allowed: cfg.PublishQueues, Logger: log})
	return a, nil
}

// withCatalog is a copy of a with the catalog cat and the services that
// need it. On error cat is closed.
func (a *App) withCatalog(cat catalog.Catalog, t Tuning) (*App, error) {
	full := *a
	full.Catalog = cat
	var err error
	if full.Segments, err = segments.New(segments.Config{
		Catalog: cat, Blobs: a.Blobs, Broker: a.Broker,
		Container: a.Config.TensorsContainer, Queue: a.Config.SegmentQueue,
		BlockSize: t.BlockSize, Concurrency: t.Concurrency, ClaimTTL: t.ClaimTTL, Logger: a.Log,
	}); err != nil {
		cat.Close()
		return nil, err
	}
	full.Atoms = atoms.New(atoms.Config{Blobs: a.Blobs, Catalog: cat,
		ModelsContainer: a.Config.ModelsContainer, AtomsContainer: a.Config.AtomsContainer,
		Index: a.Index, Roots: a.Config.FilesRoots,
		BlockSize: t.BlockSize, Concurrency: t.Concurrency, Logger: a.Log})
	if full.Outbox, err = outbox.New(outbox.Config{Catalog: cat, Sender: a.Broker,
		Allowed: a.Config.PublishQueues, Retention: a.Config.OutboxRetention, ClaimTTL: t.OutboxClaimTTL, Logger: a.Log}); err != nil {
		cat.Close()
		return nil, err
	}
	if full.Dashboard, err = dashboard.New(dashboard.Config{Catalog: cat, QueueLength: a.Broker.Length,
		PoisonQueue: broker.PoisonQueue(a.Config.SegmentQueue), Logger: a.Log}); err != nil {
		cat.Close()
		return nil, err
	}
	return &full, nil
}

// Prepare makes sure the containers and the segment queue exist
// (idempotent).
func (a *App) Prepare(ctx context.Context) error {
	var errs []error
	for _, c := range []string{a.Config.TensorsContainer, a.Config.ModelsContainer, a.Config.AtomsContainer} {
		if err := a.Blobs.EnsureContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.Broker.Ensure(ctx, a.Config.SegmentQueue); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Functions returns the function entry points for the server (those whose
// services a holds: without a catalog, only Files and PublishMessage).
func (a *App) Functions() server.Functions {
	return functions.New(functions.Deps{Segments: a.Segments, Atoms: a.Atoms, Files: a.Files, Publish: a.Publish,
		Outbox: a.Outbox, Dashboard: a.Dashboard, Logger: a.Log, Host: a.Host})
}

// Close releases the catalog.
func (a *App) Close() error {
	if a.Catalog != nil {
		return a.Catalog.Close()
	}
	return nil
}
