package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/config"
)

// Local defaults `offload run` and `offload dashboard` use when nothing is
// configured: the embedded demo catalog and an Azurite of their own, both
// keeping their state in .offload, so the page shows what run left.
const (
	localStateDir = ".offload"
	localCatalog  = "sqlite:" + localStateDir + "/catalog.db"
	// localFilesContainer receives what the Files API writes under the
	// local state directory (FILES_ROOTS, when unset).
	localFilesContainer = "local-files"
)

// useLocalDefaults points the session at the local catalog and starts
// Azurite where nothing is configured (demoCatalog, localStorage); stop
// stops that Azurite.
func useLocalDefaults(ctx context.Context, s *session) (stop func(), err error) {
	stop = func() {}
	overlay := map[string]string{}
	if demoCatalog(s.Getenv(config.SettingSQL)) {
		if err := os.MkdirAll(localStateDir, 0o755); err != nil {
			return stop, err
		}
		overlay[config.SettingSQL] = localCatalog
		fmt.Fprintf(s.Stdout, "catalog:  embedded demo catalog %s\n", strings.TrimPrefix(localCatalog, "sqlite:"))
		if s.Getenv(config.SettingFilesRoots) == "" {
			// The demo's atom files live there: a root over them lets
			// the Files API read them by their PayloadLocator.
			state, err := filepath.Abs(localStateDir)
			if err != nil {
				return stop, err
			}
			overlay[config.SettingFilesRoots] = state + string(filepath.Separator) + "=" + localFilesContainer
			fmt.Fprintf(s.Stdout, "files:    FILES_ROOTS %s\n", overlay[config.SettingFilesRoots])
		}
	}
	if localStorage(s.Getenv) {
		if err := os.MkdirAll(localStateDir, 0o755); err != nil {
			return stop, err
		}
		srv, err := azurite.Start(ctx, azurite.Options{DataDir: filepath.Join(localStateDir, "azurite")})
		if err != nil {
			return stop, fmt.Errorf("no storage configured and Azurite could not start: %w", err)
		}
		stop = srv.Stop
		overlay[config.SettingStorage] = srv.ConnectionString
		fmt.Fprintf(s.Stdout, "storage:  Azurite on 127.0.0.1 (blob :%d, queue :%d), data in %s/azurite\n", srv.BlobPort, srv.QueuePort, localStateDir)
	}
	base := s.Getenv
	s.Getenv = func(k string) string {
		if v, ok := overlay[k]; ok {
			return v
		}
		return base(k)
	}
	return stop, nil
}

// demoCatalog reports whether `run` works on the embedded demo catalog:
// SQL_CONNECTION_STRING is unset, or names that same file (as
// local.settings.json.example does, so `make run` and the commands after
// it agree on the catalog).
func demoCatalog(sql string) bool {
	sql = strings.TrimSpace(sql)
	if sql == "" {
		return true
	}
	path, ok := strings.CutPrefix(sql, "sqlite:")
	return ok && filepath.Clean(path) == filepath.Clean(strings.TrimPrefix(localCatalog, "sqlite:"))
}

// localStorage reports whether `run` starts its own Azurite: no storage is
// configured, or the development storage (UseDevelopmentStorage=true, as in
// local.settings.json.example) is, and no emulator answers on its port.
func localStorage(getenv config.Getenv) bool {
	if getenv(config.SettingBlobServiceURI) != "" || getenv(config.SettingAccountName) != "" {
		return false
	}
	cs := strings.TrimSpace(getenv(config.SettingStorage))
	if cs == "" {
		return true
	}
	if !strings.EqualFold(strings.TrimSuffix(strings.ReplaceAll(cs, " ", ""), ";"), "UseDevelopmentStorage=true") {
		return false
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:10000", 500*time.Millisecond)
	if err != nil {
		return true
	}
	c.Close()
	return false
}
