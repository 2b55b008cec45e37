package cutover

import (
	"fmt"
	"strings"
)

// planFilestream removes FILESTREAM in the order Microsoft documents: the
// table's FILESTREAM_ON reference once no FILESTREAM column is left
// (sql-docs docs/t-sql/statements/alter-table-transact-sql.md, SET
// (FILESTREAM_ON = "NULL")); a checkpoint and the garbage collector
// (docs/relational-databases/system-stored-procedures/
// filestream-and-filetable-sp-filestream-force-garbage-collection.md: a
// container cannot be removed until the collector has emptied it, and
// under the FULL or BULK_LOGGED recovery model it waits for a log
// backup); then REMOVE FILE and REMOVE FILEGROUP
// (docs/t-sql/statements/alter-database-transact-sql-file-and-filegroup-options.md).
func (in *Input) planFilestream(p *Plan) {
	fs := in.Filestream
	if len(fs.Tables) == 0 && len(fs.Files) == 0 && len(fs.Filegroups) == 0 {
		return
	}
	blocked := map[string]bool{} // filegroups that keep a FILESTREAM user
	for _, t := range fs.Tables {
		if t.IsFileTable {
			blocked[strings.ToLower(t.DataSpace)] = true
			p.keep("FileTable %s.%s: keeps filegroup %s (copy its files out and drop it)", t.SchemaName, t.Name, t.DataSpace)
			continue
		}
		if cols := fs.columnsOf(t); len(cols) > 0 {
			blocked[strings.ToLower(t.DataSpace)] = true
			p.keep("table %s.%s: FILESTREAM column(s) %s remain, so its FILESTREAM_ON %s stays", t.SchemaName, t.Name, strings.Join(cols, ", "), t.DataSpace)
			continue
		}
		obj := qn2(t.SchemaName, t.Name)
		p.add(Step{Part: "FILESTREAM", Title: "remove the FILESTREAM_ON reference of " + t.SchemaName + "." + t.Name,
			Why: "the table has no FILESTREAM column left; its FILESTREAM_ON reference is all that ties it to filegroup " + t.DataSpace + " (rule FileStream)",
			Batches: []string{fmt.Sprintf(`IF EXISTS (SELECT 1 FROM sys.tables WHERE object_id = OBJECT_ID(%s) AND filestream_data_space_id IS NOT NULL)
    ALTER TABLE %s SET (FILESTREAM_ON = "NULL");`, nlit(obj), obj)},
			Checks: []string{"ALTER TABLE " + obj + ` SET (FILESTREAM_ON = "NULL");`}})
	}
	var files, groups []string
	for _, f := range fs.Files {
		if blocked[strings.ToLower(f.FilegroupName)] {
			p.keep("FILESTREAM file %s: its filegroup %s is still used", f.Name, f.FilegroupName)
			continue
		}
		files = append(files, f.Name)
	}
	for _, g := range fs.Filegroups {
		if !blocked[strings.ToLower(g)] {
			groups = append(groups, g)
		}
	}
	if len(files) == 0 && len(groups) == 0 {
		return
	}
	db := qn(in.Database.Name)
	p.add(Step{Part: "FILESTREAM", Title: "checkpoint and FILESTREAM garbage collection",
		Why:     in.gcWhy(),
		Batches: []string{"CHECKPOINT;\nEXEC sys.sp_filestream_force_garbage_collection @dbname = " + nlit(in.Database.Name) + ";"},
		Checks:  []string{"CHECKPOINT;", "EXEC sys.sp_filestream_force_garbage_collection @dbname = " + nlit(in.Database.Name) + ";"}})
	for _, f := range files {
		p.add(Step{Part: "FILESTREAM", Title: "remove FILESTREAM file " + f,
			Why: "the container is empty once the garbage collector ran; if this fails with error 5042 (the file is not empty), " + in.logBackupAdvice(),
			Batches: []string{fmt.Sprintf(`IF EXISTS (SELECT 1 FROM sys.database_files WHERE name = %s AND type_desc = N'FILESTREAM')
    ALTER DATABASE %s REMOVE FILE %s;`, nlit(f), db, qn(f))},
			Checks: []string{"ALTER DATABASE " + db + " REMOVE FILE " + qn(f) + ";"}})
	}
	for _, g := range groups {
		p.add(Step{Part: "FILESTREAM", Title: "remove FILESTREAM filegroup " + g,
			Why: "its files are removed; Azure SQL Database has no FILESTREAM filegroup",
			Batches: []string{fmt.Sprintf(`IF EXISTS (SELECT 1 FROM sys.filegroups WHERE name = %s AND type = 'FD')
    ALTER DATABASE %s REMOVE FILEGROUP %s;`, nlit(g), db, qn(g))},
			Checks: []string{"ALTER DATABASE " + db + " REMOVE FILEGROUP " + qn(g) + ";"}})
	}
}

// columnsOf names the FILESTREAM columns left on table t.
func (fs Filestream) columnsOf(t FilestreamTable) []string {
	var out []string
	for _, c := range fs.Columns {
		if sameName(c.SchemaName, t.SchemaName) && sameName(c.TableName, t.Name) {
			out = append(out, c.ColumnName)
		}
	}
	return out
}

func (in *Input) fullRecovery() bool {
	m := strings.ToUpper(in.Filestream.RecoveryModel)
	return m == "FULL" || m == "BULK_LOGGED"
}

func (in *Input) gcWhy() string {
	w := "the garbage collector deletes the FILESTREAM files no row needs; it needs a checkpoint first"
	if in.fullRecovery() {
		w += "; under the " + in.Filestream.RecoveryModel + " recovery model it also waits for a log backup"
	}
	return w
}

// logBackupAdvice says what the DBA must do when the container is not
// empty yet.
func (in *Input) logBackupAdvice() string {
	if in.fullRecovery() {
		return fmt.Sprintf("the recovery model is %s: take a log backup (BACKUP LOG %s TO …), then run `offload cutover apply --confirm` again (it repeats the checkpoint and the garbage collection)", in.Filestream.RecoveryModel, qn(in.Database.Name))
	}
	return "run `offload cutover apply --confirm` again after a while (the garbage collector may need a second pass)"
}
