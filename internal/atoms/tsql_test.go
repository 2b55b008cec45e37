package atoms

import (
	"testing"

	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
)

// openTSQL is a fresh T-SQL catalog (the test skips without MSSQL_TEST_DSN).
func openTSQL(tb testing.TB) catalogtest.Catalog { return mssqltest.Catalog(tb) }

// TestLocatorsOnTSQL: the locator cases with the catalog on a T-SQL engine
// (ContentHash not the file's digest, a locator that is not content-named,
// two atoms on one file, a lying name, every atom accounted for).
func TestLocatorsOnTSQL(t *testing.T) {
	mssqltest.DSN(t)
	for _, c := range locatorCases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, openTSQL) })
	}
}
