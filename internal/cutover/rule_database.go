package cutover

import "fmt"

// Rules read from the database's own catalog rather than module text.
// Source: sql-docs azure-sql/migration-guides/database/
// sql-server-to-sql-database-assessment-rules.md (NextColumn,
// SQLDBDatabaseSize, DbCompatLevelLowerThan100).

// maxDatabaseBytes is Azure SQL Database's largest database (Hyperscale):
// 100 TB, as the SQLDBDatabaseSize rule states it.
const maxDatabaseBytes = 100 << 40

var nextColumnRule = Rule{
	Name: "NextColumn", Severity: Issue,
	Title: "Tables and Columns named NEXT lead to an error In Azure SQL Database.",
	Check: func(in *Input) []Finding {
		var out []Finding
		for _, n := range in.Database.NextNamed {
			out = append(out, Finding{Rule: "NextColumn", Severity: Issue, Object: n, Type: "table or column named NEXT",
				Detail: "a table or column named NEXT reads as NEXT VALUE FOR when aliased without AS", Offload: Change,
				Suggestion: "alias it with AS (SELECT NEXT AS VALUE …) in every query, or rename it"})
		}
		return out
	},
}

var databaseSizeRule = Rule{
	Name: "SQLDBDatabaseSize", Severity: Issue,
	Title: "Azure SQL Database doesn't support database size greater than 100 TB.",
	Check: func(in *Input) []Finding {
		if in.Database.SizeBytes <= maxDatabaseBytes {
			return nil
		}
		return []Finding{{Rule: "SQLDBDatabaseSize", Severity: Issue, Object: in.Database.Name, Type: "database",
			Detail: fmt.Sprintf("%d bytes of files, over 100 TB", in.Database.SizeBytes), Offload: Change,
			Suggestion: "finish the segment and atom migration (their bytes move to Blob Storage), then shrink the files"}}
	},
}

var compatLevelRule = Rule{
	Name: "DbCompatLevelLowerThan100", Severity: Warning,
	Title: "Azure SQL Database doesn't support compatibility levels below 100.",
	Check: func(in *Input) []Finding {
		if in.Database.CompatibilityLevel == 0 || in.Database.CompatibilityLevel >= 100 {
			return nil
		}
		return []Finding{{Rule: "DbCompatLevelLowerThan100", Severity: Warning, Object: in.Database.Name, Type: "database",
			Detail: fmt.Sprintf("compatibility level %d", in.Database.CompatibilityLevel), Offload: Change,
			Suggestion: "ALTER DATABASE CURRENT SET COMPATIBILITY_LEVEL = 150 after testing the application on it"}}
	},
}
