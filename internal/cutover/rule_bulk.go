package cutover

import "fmt"

// Azure SQL Database reads files only from Azure Blob Storage: BULK INSERT
// and OPENROWSET(BULK …) need a DATA_SOURCE of TYPE = BLOB_STORAGE
// (assessment rules BulkInsert and OpenRowsetWithNonBlobDataSourceBulk),
// and OPENROWSET with an OLE DB provider is not supported at all
// (OpenRowsetWithSQLAndNonSQLProvider). Source: sql-docs
// azure-sql/migration-guides/database/sql-server-to-sql-database-assessment-rules.md.

const blobAdvice = "put the file in Azure Blob Storage (Offload's models/atoms containers hold the migrated files) and read it WITH (DATA_SOURCE = <an EXTERNAL DATA SOURCE of TYPE = BLOB_STORAGE>)"

var bulkInsertRule = Rule{
	Name: "BulkInsert", Severity: Issue,
	Title: "BULK INSERT with non-Azure blob data source isn't supported in Azure SQL Database.",
	Check: func(in *Input) []Finding {
		var out []Finding
		in.eachToken(func(m Scanned, i int) {
			if !keywords(m.Toks, i, "BULK", "INSERT") {
				return
			}
			end := statementEnd(m.Toks, i+2)
			if containsWord(m.Toks, i, end, "DATA_SOURCE") {
				return
			}
			out = append(out, moduleFinding("BulkInsert", Issue, m, m.Toks[i].Line,
				"BULK INSERT"+fromFile(m.Toks, i, end)+" without an Azure Blob Storage DATA_SOURCE", Change, blobAdvice))
		})
		return out
	},
}

// fromFile describes the file a BULK statement reads (its first literal).
func fromFile(toks []Token, from, to int) string {
	for i := from; i < to && i < len(toks); i++ {
		if toks[i].Kind == String {
			return fmt.Sprintf(" from %q", toks[i].Text)
		}
	}
	return ""
}

var openRowsetBulkRule = Rule{
	Name: "OpenRowsetWithNonBlobDataSourceBulk", Severity: Issue,
	Title: "OpenRowSet used in bulk operation with non-Azure blob storage data source isn't supported in Azure SQL Database.",
	Check: func(in *Input) []Finding {
		return openRowset(in, true)
	},
}

var openRowsetProviderRule = Rule{
	Name: "OpenRowsetWithSQLAndNonSQLProvider", Severity: Issue,
	Title: "OpenRowSet with SQL or non-SQL provider isn't supported in Azure SQL Database.",
	Check: func(in *Input) []Finding {
		return openRowset(in, false)
	},
}

// openRowset finds OPENROWSET(BULK …) without DATA_SOURCE (bulk) or
// OPENROWSET('provider', …) (!bulk).
func openRowset(in *Input, bulk bool) []Finding {
	var out []Finding
	in.eachRef(func(m Scanned, r Ref) {
		if len(r.Parts) != 1 || !sameName(r.Object(), "OPENROWSET") || !r.Call {
			return
		}
		open := r.Last + 1
		end := closeParen(m.Toks, open)
		if open+1 >= len(m.Toks) {
			return
		}
		first := m.Toks[open+1]
		switch {
		case bulk && first.Is("BULK") && !containsWord(m.Toks, open, end, "DATA_SOURCE"):
			out = append(out, moduleFinding("OpenRowsetWithNonBlobDataSourceBulk", Issue, m, r.Line,
				"OPENROWSET(BULK"+fromFile(m.Toks, open, end)+") without an Azure Blob Storage DATA_SOURCE", Change, blobAdvice))
		case !bulk && first.Kind == String:
			out = append(out, moduleFinding("OpenRowsetWithSQLAndNonSQLProvider", Issue, m, r.Line,
				fmt.Sprintf("OPENROWSET with provider %q", first.Text), Change,
				"move the remote data into this database, or query another Azure SQL database with elastic query (EXTERNAL DATA SOURCE of TYPE = RDBMS)"))
		}
	})
	return out
}
