package cutover

import "fmt"

// Statements Azure SQL Database does not have, found in module text.
// Source: sql-docs azure-sql/migration-guides/database/
// sql-server-to-sql-database-assessment-rules.md (MSDTCTransactSQL,
// XpCmdshell, CryptographicProvider, DisableDefCNSTCHK,
// DatabasePrincipalAlias; and the Warning rules RAISERROR,
// FastFirstRowHint, ComputeClause, SystemProcedures110, SqlMail).

var msdtcRule = Rule{
	Name: "MSDTCTransactSQL", Severity: Issue,
	Title: "BEGIN DISTRIBUTED TRANSACTION isn't supported in Azure SQL Database.",
	Check: keywordRule("MSDTCTransactSQL", Issue, [][]string{{"BEGIN", "DISTRIBUTED", "TRANSACTION"}, {"BEGIN", "DISTRIBUTED", "TRAN"}},
		"a distributed transaction (MS DTC)", "keep the transaction inside this database; for a message to another system, publish it with dbo.usp_PublishMessage in the local transaction (the outbox delivers it once committed)"),
}

var cryptographicProviderRule = Rule{
	Name: "CryptographicProvider", Severity: Issue,
	Title: "A use of CREATE CRYPTOGRAPHIC PROVIDER or ALTER CRYPTOGRAPHIC PROVIDER was found, which isn't supported in Azure SQL Database",
	Check: keywordRule("CryptographicProvider", Issue, [][]string{{"CREATE", "CRYPTOGRAPHIC", "PROVIDER"}, {"ALTER", "CRYPTOGRAPHIC", "PROVIDER"}},
		"an EKM cryptographic provider", "use Azure Key Vault keys (TDE with customer-managed keys, Always Encrypted) instead"),
}

var disableDefCnstChkRule = Rule{
	Name: "DisableDefCNSTCHK", Severity: Issue,
	Title: "SET option DISABLE_DEF_CNST_CHK is discontinued and has been removed.",
	Check: keywordRule("DisableDefCNSTCHK", Issue, [][]string{{"SET", "DISABLE_DEF_CNST_CHK"}},
		"SET DISABLE_DEF_CNST_CHK", "remove the SET statement (constraints are checked per statement)"),
}

var computeClauseRule = Rule{
	Name: "ComputeClause", Severity: Warning,
	Title: "COMPUTE clause is no longer supported and has been removed.",
	Check: func(in *Input) []Finding {
		var out []Finding
		in.eachToken(func(m Scanned, i int) {
			t := m.Toks
			if t[i].Is("COMPUTE") && i+2 < len(t) && t[i+2].IsPunct("(") && isAggregate(t[i+1]) {
				out = append(out, moduleFinding("ComputeClause", Warning, m, t[i].Line, "COMPUTE clause", Change, "use GROUP BY … WITH ROLLUP"))
			}
		})
		return out
	},
}

func isAggregate(t Token) bool {
	for _, a := range []string{"SUM", "AVG", "COUNT", "MIN", "MAX", "STDEV", "STDEVP", "VAR", "VARP"} {
		if t.Is(a) {
			return true
		}
	}
	return false
}

var raiserrorRule = Rule{
	Name: "RAISERROR", Severity: Warning,
	Title: "Legacy style RAISERROR calls should be replaced with modern equivalents.",
	Check: func(in *Input) []Finding {
		var out []Finding
		in.eachToken(func(m Scanned, i int) {
			t := m.Toks
			if t[i].Is("RAISERROR") && i+1 < len(t) && (t[i+1].Kind == Number || t[i+1].Kind == Variable) {
				out = append(out, moduleFinding("RAISERROR", Warning, m, t[i].Line, "legacy RAISERROR without parentheses", Change,
					"RAISERROR (msg, severity, state) or THROW"))
			}
		})
		return out
	},
}

var fastFirstRowRule = Rule{
	Name: "FastFirstRowHint", Severity: Warning,
	Title: "FASTFIRSTROW query hint is no longer supported and has been removed.",
	Check: keywordRule("FastFirstRowHint", Warning, [][]string{{"FASTFIRSTROW"}}, "FASTFIRSTROW hint", "OPTION (FAST 1)"),
}

// keywordRule finds any of the keyword sequences in module text.
func keywordRule(rule string, sev Severity, seqs [][]string, what, advice string) func(in *Input) []Finding {
	return func(in *Input) []Finding {
		var out []Finding
		in.eachToken(func(m Scanned, i int) {
			for _, s := range seqs {
				if keywords(m.Toks, i, s...) {
					out = append(out, moduleFinding(rule, sev, m, m.Toks[i].Line, what, Change, advice))
					return
				}
			}
		})
		return out
	}
}

// nameRule finds references to any of names (procedures, views), however
// qualified.
func nameRule(rule string, sev Severity, names []string, advice string) func(in *Input) []Finding {
	return func(in *Input) []Finding {
		var out []Finding
		in.eachRef(func(m Scanned, r Ref) {
			for _, n := range names {
				if sameName(r.Object(), n) {
					out = append(out, moduleFinding(rule, sev, m, r.Line, fmt.Sprintf("references %s", r), Change, advice))
					return
				}
			}
		})
		return out
	}
}

var xpCmdshellRule = Rule{
	Name: "XpCmdshell", Severity: Issue,
	Title: "xp_cmdshell isn't supported in Azure SQL Database.",
	Check: nameRule("XpCmdshell", Issue, []string{"xp_cmdshell"},
		"run the command outside the database (an Azure Function, Azure Automation); Offload does not run shell commands from SQL"),
}

var databasePrincipalAliasRule = Rule{
	Name: "DatabasePrincipalAlias", Severity: Issue,
	Title: "SYS.DATABASE_PRINCIPAL_ALIASES is no longer supported and has been removed.",
	Check: nameRule("DatabasePrincipalAlias", Issue, []string{"database_principal_aliases", "sp_addalias"},
		"use database roles instead of aliases"),
}

var systemProceduresRule = Rule{
	Name: "SystemProcedures110", Severity: Warning,
	Title: "Detected statements that reference removed system stored procedures that aren't available in Azure SQL Database.",
	Check: nameRule("SystemProcedures110", Warning,
		[]string{"sp_dboption", "sp_addserver", "sp_dropalias", "sp_activedirectory_obj", "sp_activedirectory_scp", "sp_activedirectory_start"},
		"remove the call (ALTER DATABASE … SET replaces sp_dboption)"),
}

var sqlMailRule = Rule{
	Name: "SqlMail", Severity: Warning,
	Title: "SQL Mail has been discontinued.",
	Check: nameRule("SqlMail", Warning,
		[]string{"xp_sendmail", "xp_startmail", "xp_stopmail", "xp_readmail", "xp_findnextmsg", "xp_deletemail", "sp_processmail"},
		"send mail from the application (or publish an event with dbo.usp_PublishMessage and send it from a consumer)"),
}

var nonANSILeftRule = Rule{
	Name: "NonANSILeftOuterJoinSyntax", Severity: Warning,
	Title: "Non-ANSI style left outer join is no longer supported and has been removed.",
	Check: func(in *Input) []Finding { return nonANSIJoins(in, "*=", "NonANSILeftOuterJoinSyntax") },
}

var nonANSIRightRule = Rule{
	Name: "NonANSIRightOuterJoinSyntax", Severity: Warning,
	Title: "Non-ANSI style right outer join is no longer supported and has been removed.",
	Check: func(in *Input) []Finding { return nonANSIJoins(in, "=*", "NonANSIRightOuterJoinSyntax") },
}

// nonANSIJoins finds *= or =* in a search condition. T-SQL's compound
// assignment (SET @x *= 2, UPDATE … SET c *= 2) uses the same characters:
// it follows SET or a comma of a SET list, a join condition follows WHERE,
// AND, OR, ON or HAVING.
func nonANSIJoins(in *Input, op, rule string) []Finding {
	var out []Finding
	in.eachToken(func(m Scanned, i int) {
		t := m.Toks
		if i+1 >= len(t) || t[i].Text != op[:1] || t[i+1].Text != op[1:] || t[i].Kind != Punct || t[i+1].Kind != Punct || t[i].End != t[i+1].Start {
			return
		}
		for j := i - 1; j >= 0 && j > i-50; j-- {
			switch {
			case t[j].Is("SET") || t[j].IsPunct(";") || t[j].Kind == Variable && j == i-1:
				return
			case t[j].Is("WHERE") || t[j].Is("AND") || t[j].Is("OR") || t[j].Is("ON") || t[j].Is("HAVING"):
				out = append(out, moduleFinding(rule, Warning, m, t[i].Line, "non-ANSI outer join "+op, Change, "rewrite with LEFT/RIGHT OUTER JOIN … ON"))
				return
			}
		}
	})
	return out
}
