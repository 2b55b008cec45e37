package cutover

import (
	"fmt"
	"slices"
	"strings"
)

// Azure SQL Database is one database: no three-part name reaches another
// one (CrossDatabaseReferences) and there are no linked servers
// (LinkedServer: four-part names, OPENQUERY, OPENDATASOURCE, sys.servers
// rows with is_linked = 1). Source: sql-docs azure-sql/migration-guides/
// database/sql-server-to-sql-database-assessment-rules.md.

var crossDatabaseRule = Rule{
	Name: "CrossDatabaseReferences", Severity: Issue,
	Title: "Cross-database queries aren't supported in Azure SQL Database",
	Check: func(in *Input) []Finding {
		var out []Finding
		in.eachRef(func(m Scanned, r Ref) {
			if db := in.otherDatabase(r); db != "" {
				out = append(out, moduleFinding("CrossDatabaseReferences", Issue, m, r.Line,
					fmt.Sprintf("%s reads database %s", r, db), Change,
					"move the data this module reads into this database, or read it with elastic query (EXTERNAL DATA SOURCE of TYPE = RDBMS) once that database is in Azure SQL"))
			}
		})
		return out
	},
}

// otherDatabase returns the database r names when it is not this one
// ("" otherwise). schema.table.column (three parts whose first is a schema
// here) and tempdb are not other databases.
func (in *Input) otherDatabase(r Ref) string {
	var db string
	switch len(r.Parts) {
	case 3:
		if r.Parts[1] != "" && in.isSchema(r.Parts[0]) {
			return "" // schema.table.column
		}
		db = r.Parts[0]
	case 4:
		if !in.isDatabase(r.Parts[0]) {
			return "" // server.db.schema.object: LinkedServer's
		}
		db = r.Parts[0] // db.schema.table.column
	default:
		return ""
	}
	if db == "" || sameName(db, in.Database.Name) || sameName(db, "tempdb") || strings.HasPrefix(r.Object(), "#") {
		return ""
	}
	if sameName(db, "master") && isSystemProc(r.Object()) {
		return "" // master..xp_cmdshell: the rule of the procedure names it
	}
	return db
}

func (in *Input) isSchema(s string) bool {
	return slices.ContainsFunc(in.Database.Schemas, func(x string) bool { return sameName(x, s) })
}

func (in *Input) isDatabase(s string) bool {
	return sameName(s, in.Database.Name) || slices.ContainsFunc(in.Database.Databases, func(x string) bool { return sameName(x, s) })
}

const linkedAdvice = "move the remote data into this database, or query other Azure SQL databases with elastic query (EXTERNAL DATA SOURCE of TYPE = RDBMS)"

var linkedServerRule = Rule{
	Name: "LinkedServer", Severity: Issue,
	Title: "Linked server functionality isn't supported in Azure SQL Database",
	Check: func(in *Input) []Finding {
		var out []Finding
		for _, s := range in.Database.LinkedServers {
			out = append(out, Finding{Rule: "LinkedServer", Severity: Issue, Object: s, Type: "linked server",
				Detail:  "sys.servers names a linked server (a server object: it does not travel with the database, its users here do)",
				Offload: Change, Suggestion: linkedAdvice})
		}
		in.eachRef(func(m Scanned, r Ref) {
			switch {
			case len(r.Parts) == 4 && r.Parts[0] != "" && !in.isDatabase(r.Parts[0]):
				out = append(out, moduleFinding("LinkedServer", Issue, m, r.Line,
					fmt.Sprintf("four-part name %s reaches linked server %s", r, r.Parts[0]), Change, linkedAdvice))
			case len(r.Parts) == 1 && r.Call && (sameName(r.Object(), "OPENQUERY") || sameName(r.Object(), "OPENDATASOURCE")):
				out = append(out, moduleFinding("LinkedServer", Issue, m, r.Line,
					strings.ToUpper(r.Object())+" reaches a remote server", Change, linkedAdvice))
			case sameName(r.Object(), "sp_addlinkedserver") || sameName(r.Object(), "sp_addlinkedsrvlogin"):
				out = append(out, moduleFinding("LinkedServer", Issue, m, r.Line,
					r.Object()+" creates a linked server", Change, linkedAdvice))
			}
		})
		return out
	},
}

func isSystemProc(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "sp_") || strings.HasPrefix(n, "xp_")
}
