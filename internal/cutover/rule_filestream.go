package cutover

import "fmt"

// FileStream: Azure SQL Database has no FILESTREAM (sql-docs
// azure-sql/migration-guides/database/
// sql-server-to-sql-database-assessment-rules.md#FileStream). Offload moves
// dbo.LayerTensorSegments.RawPayload to Blob Storage and `schema finalize`
// drops it; cutover apply then removes the table's FILESTREAM_ON
// reference, the FILESTREAM files and filegroups (sql-docs
// docs/t-sql/statements/alter-table-transact-sql.md,
// alter-database-transact-sql-file-and-filegroup-options.md). Any other
// FILESTREAM column that holds data blocks: apply never drops data.

var fileStreamRule = Rule{
	Name: "FileStream", Severity: Issue,
	Title: "FILESTREAM isn't supported in Azure SQL Database",
	Check: func(in *Input) []Finding {
		fs := in.Filestream
		var out []Finding
		add := func(obj, typ, detail string, rem Remedy, sug string) {
			out = append(out, Finding{Rule: "FileStream", Severity: Issue, Object: obj, Type: typ, Detail: detail, Offload: rem, Suggestion: sug})
		}
		for _, c := range fs.Columns {
			obj := c.SchemaName + "." + c.TableName + "." + c.ColumnName
			detail := fmt.Sprintf("%d row(s), %d byte(s)", c.Rows, c.Bytes)
			switch {
			case isRawPayload(c):
				add(obj, "FILESTREAM column", detail, Replaced, "segments move to Blob Storage (segments migrate, verify, release); `offload schema finalize` drops the column")
			case c.Rows == 0:
				add(obj, "FILESTREAM column", detail+": empty", Change, fmt.Sprintf("ALTER TABLE [%s].[%s] DROP COLUMN [%s]; (cutover apply never drops a column)", c.SchemaName, c.TableName, c.ColumnName))
			default:
				add(obj, "FILESTREAM column", detail+" that cutover apply never drops", Change, "move its bytes to Blob Storage (as `offload atoms upload` does for files), point the rows at the blobs, then drop the column")
			}
		}
		for _, t := range fs.Tables {
			obj := t.SchemaName + "." + t.Name
			if t.IsFileTable {
				add(obj, "FileTable", "a FileTable keeps the FILESTREAM filegroup", Change, "copy its files to Blob Storage and drop the FileTable (cutover apply never drops it)")
				continue
			}
			add(obj, "FILESTREAM_ON reference", "FILESTREAM_ON "+t.DataSpace, Removed, `ALTER TABLE … SET (FILESTREAM_ON = "NULL") once the table has no FILESTREAM column`)
		}
		for _, f := range fs.Files {
			add(f.Name, "FILESTREAM file", fmt.Sprintf("container %s in filegroup %s", f.PhysicalName, f.FilegroupName), Removed, "REMOVE FILE once the garbage collector has emptied it")
		}
		for _, g := range fs.Filegroups {
			add(g, "FILESTREAM filegroup", "", Removed, "REMOVE FILEGROUP once its files are gone")
		}
		in.eachToken(func(m Scanned, i int) {
			t := m.Toks
			if t[i].Is("GET_FILESTREAM_TRANSACTION_CONTEXT") || (t[i].Is("PathName") && i > 0 && t[i-1].IsPunct(".") && i+1 < len(t) && t[i+1].IsPunct("(")) {
				out = append(out, moduleFinding("FileStream", Issue, m, t[i].Line, t[i].Text+" (FILESTREAM streaming access)", Change,
					"read and write the blob (BlobUri) through Blob Storage instead"))
			}
		})
		return out
	},
}

func isRawPayload(c FilestreamColumn) bool {
	return sameName(c.TableName, "LayerTensorSegments") && sameName(c.ColumnName, "RawPayload")
}
