package cutover

import (
	"fmt"
	"strings"
)

// ClrAssemblies: Azure SQL Database runs no CLR assembly, SAFE included
// (sql-docs azure-sql/migration-guides/database/
// sql-server-to-sql-database-assessment-rules.md#ClrAssemblies). Every
// assembly (sys.assemblies), every object it defines (sys.assembly_modules:
// FS scalar function, FT table-valued function, AF aggregate, PC
// procedure, TA trigger; sys.assembly_types: user-defined types), every
// column typed by one of its types, and every module that calls one is a
// finding. Calls are found in module text (sys.sql_modules.definition),
// not only in sys.sql_expression_dependencies: that view misses dynamic
// SQL, and an engine may not fill it.

var clrAssembliesRule = Rule{
	Name: "ClrAssemblies", Severity: Issue,
	Title: "SQL CLR assemblies aren't supported in Azure SQL Database",
	Check: func(in *Input) []Finding {
		var out []Finding
		for _, a := range in.CLR.Assemblies {
			out = append(out, assemblyFinding(in, a))
		}
		for _, m := range in.CLR.Modules {
			out = append(out, clrObjectFinding(m))
		}
		types := map[int64]AssemblyType{}
		for _, t := range in.CLR.Types {
			types[t.UserTypeID] = t
			out = append(out, Finding{Rule: "ClrAssemblies", Severity: Issue, Object: t.SchemaName + "." + t.Name,
				Type: "CLR user-defined type", Detail: "CLR type " + t.AssemblyClass, Offload: Change,
				Suggestion: "change every column and parameter of this type to a built-in type (varbinary(max), nvarchar(max), or vector where it holds embeddings), then drop the type"})
		}
		for _, c := range in.CLR.Columns {
			t := types[c.UserTypeID]
			out = append(out, Finding{Rule: "ClrAssemblies", Severity: Issue, Object: c.SchemaName + "." + c.TableName + "." + c.ColumnName,
				Type: "column of a CLR type", Detail: "typed " + t.SchemaName + "." + t.Name, Offload: Change,
				Suggestion: "convert the column to a built-in type (ALTER TABLE … ADD a new column, copy with the type's ToString()/binary form, drop the old one)"})
		}
		out = append(out, clrCallFindings(in)...)
		return out
	},
}

func assemblyFinding(in *Input, a Assembly) Finding {
	var own, other int
	for _, m := range in.CLR.Modules {
		if m.AssemblyID != a.AssemblyID {
			continue
		}
		if _, ok := fileFuncNamed(m.Name); ok {
			own++
		} else {
			other++
		}
	}
	for _, t := range in.CLR.Types {
		if t.AssemblyID == a.AssemblyID {
			other++
		}
	}
	f := Finding{Rule: "ClrAssemblies", Severity: Issue, Object: a.Name, Type: "CLR assembly",
		Detail: fmt.Sprintf("%s, %d file function(s) Offload replaces, %d other object(s)", a.PermissionSetDesc, own, other)}
	if other == 0 {
		f.Offload = Removed
		f.Suggestion = "dropped once no module calls its functions"
		return f
	}
	f.Offload = Change
	f.Suggestion = "dropped only when nothing it defines is left: replace or drop its other objects first"
	return f
}

func clrObjectFinding(m AssemblyModule) Finding {
	f := Finding{Rule: "ClrAssemblies", Severity: Issue, Object: m.SchemaName + "." + m.Name, Type: m.TypeDesc,
		Detail: "CLR " + m.AssemblyClass + "." + m.AssemblyMethod}
	if ff, ok := fileFuncNamed(m.Name); ok {
		f.Offload = Replaced
		f.Suggestion = "dbo." + ff.Proc + " (sql/file-procs.sql, `offload schema apply --with-file-procs`); cutover apply drops the function once no module calls it"
		return f
	}
	f.Offload = Change
	f.Suggestion = clrAdvice(m.Name)
	return f
}

// clrAdvice is what to do about a CLR object Offload does not replace.
func clrAdvice(name string) string {
	if sameName(name, shellFunc) {
		return "Offload deliberately does not replace it: running shell commands from SQL is what Azure SQL Database forbids (as xp_cmdshell); move the job to the application, an Azure Function or Azure Automation"
	}
	if metric, ok := isVectorMath(name); ok {
		return fmt.Sprintf("Azure SQL Database computes it natively: VECTOR_DISTANCE('%s', a, b) on vector(n) columns (store embeddings as vector)", metric)
	}
	return "no Offload replacement: rewrite it in T-SQL or move it into the application"
}

// clrCallFindings names every module line that calls a CLR object (known
// from sys.assembly_modules, or a file function by name even where the
// function is missing).
func clrCallFindings(in *Input) []Finding {
	clr := map[string]AssemblyModule{}
	for _, m := range in.CLR.Modules {
		clr[strings.ToLower(m.SchemaName+"."+m.Name)] = m
	}
	types := map[string]AssemblyType{}
	for _, t := range in.CLR.Types {
		types[strings.ToLower(t.SchemaName+"."+t.Name)] = t
	}
	var out []Finding
	in.eachRef(func(m Scanned, r Ref) {
		if name, ok := in.clrTarget(m, r, clr); ok {
			out = append(out, clrCallFinding(m, r, name))
			return
		}
		if t, ok := typeRef(r, types); ok {
			out = append(out, moduleFinding("ClrAssemblies", Issue, m, r.Line, fmt.Sprintf("uses CLR type %s.%s", t.SchemaName, t.Name), Change,
				"use a built-in type instead (varbinary(max), nvarchar(max), or vector for embeddings)"))
		}
	})
	return out
}

// typeRef resolves a schema-qualified name to a CLR type (an unqualified
// one would match too many column and variable names to be a finding).
func typeRef(r Ref, types map[string]AssemblyType) (AssemblyType, bool) {
	if len(r.Parts) != 2 {
		return AssemblyType{}, false
	}
	t, ok := types[strings.ToLower(r.Schema()+"."+r.Object())]
	return t, ok
}

// clrTarget resolves r to a CLR object's name: one sys.assembly_modules
// lists, or a dbo.clr_* name called as a function.
func (in *Input) clrTarget(m Scanned, r Ref, clr map[string]AssemblyModule) (string, bool) {
	if len(r.Parts) > 3 || (len(r.Parts) == 3 && !sameName(r.Parts[0], in.Database.Name)) {
		return "", false
	}
	schema := r.Schema()
	if schema == "" {
		schema = "dbo"
	}
	if o, ok := clr[strings.ToLower(schema+"."+r.Object())]; ok {
		if sameName(o.SchemaName+"."+o.Name, m.Qualified()) {
			return "", false
		}
		return o.Name, true
	}
	if !r.Call || !strings.HasPrefix(strings.ToLower(r.Object()), "clr_") {
		return "", false
	}
	if sameName(m.Name, r.Object()) {
		return "", false
	}
	return r.Object(), true
}

func clrCallFinding(m Scanned, r Ref, name string) Finding {
	cs := classify(m, r)
	f := moduleFinding("ClrAssemblies", Issue, m, r.Line, fmt.Sprintf("calls CLR %s (%s)", r, cs.Kind), Change, "")
	if ff, ok := fileFuncNamed(name); ok {
		f.Suggestion, f.Offload = fileCallSuggestion(ff, cs)
		return f
	}
	f.Suggestion = clrAdvice(name)
	return f
}
