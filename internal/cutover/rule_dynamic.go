package cutover

// DynamicSql is Offload's own Warning: text built at run time (EXEC (@sql),
// sp_executesql) and encrypted modules cannot be read, so what they call
// cannot be told. Microsoft's assessment has the same blind spot; Offload
// says where it is.

var dynamicSQLRule = Rule{
	Name: "DynamicSql", Severity: Warning,
	Title: "Dynamic SQL or an encrypted module: what it calls cannot be told from its text",
	Check: func(in *Input) []Finding {
		var out []Finding
		for _, m := range in.Modules {
			if m.Definition == nil {
				out = append(out, moduleFinding("DynamicSql", Warning, m, 0, "module is encrypted (sys.sql_modules.definition is NULL)", CannotTell,
					"read its source where it is kept and check it by hand"))
				continue
			}
			for i, t := range m.Toks {
				if dynamicAt(m.Toks, i) {
					out = append(out, moduleFinding("DynamicSql", Warning, m, t.Line, "dynamic SQL", CannotTell,
						"check by hand what the statement it builds calls (clr_*, SEND, BULK INSERT, …)"))
				}
			}
		}
		return out
	},
}

// dynamicAt: EXEC ( … ) / EXECUTE ( … ) or a reference to sp_executesql.
func dynamicAt(t []Token, i int) bool {
	if (t[i].Is("EXEC") || t[i].Is("EXECUTE")) && i+1 < len(t) && t[i+1].IsPunct("(") {
		return true
	}
	return t[i].Is("sp_executesql") && (i == 0 || !t[i-1].IsPunct(".") || i >= 2 && t[i-2].Is("sys"))
}
