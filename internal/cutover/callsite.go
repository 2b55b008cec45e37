package cutover

import (
	"fmt"
	"strings"
)

// How a call of a CLR file function can be replaced depends on where it
// stands: a scalar function call assigned to a variable becomes an EXEC of
// the procedure in place; a call per row of a query, or one inside a
// function or view (where T-SQL cannot EXEC a procedure), cannot.

// callKind classifies a call site.
type callKind string

const (
	inPlace    callKind = "in place"
	expression callKind = "in an expression"
	setBased   callKind = "set-based"
	inFunction callKind = "inside a function or view"
	tableFrom  callKind = "as a table"
)

// callSite is a call of a CLR function found in a module.
type callSite struct {
	Kind   callKind
	Target string // the variable assigned (in place)
	Args   string // the argument text as written
}

// classify looks at the tokens around the call r of module m.
func classify(m Scanned, r Ref) callSite {
	cs := callSite{}
	t := m.Toks
	open := r.Last + 1
	if open >= len(t) || !t[open].IsPunct("(") {
		cs.Kind = expression
		return cs
	}
	close := closeParen(t, open)
	if m.Definition != nil && close > open+1 {
		cs.Args = strings.TrimSpace((*m.Definition)[t[open].End:t[close].Start])
	}
	if m.isFunctionOrView() {
		cs.Kind = inFunction
		return cs
	}
	end := statementEnd(t, close+1)
	perRow := argsNameColumns(t, open+1, close) || containsWord(t, close+1, end, "FROM")
	f := r.First
	switch {
	case f > 0 && t[f-1].Is("FROM") || f > 0 && t[f-1].Is("JOIN") || f > 0 && t[f-1].Is("APPLY"):
		cs.Kind = tableFrom
		if argsNameColumns(t, open+1, close) {
			cs.Kind = setBased
		}
	case f >= 3 && t[f-1].IsPunct("=") && t[f-2].Kind == Variable && (t[f-3].Is("SET") || t[f-3].Is("SELECT")) && end == close+1 && !perRow:
		cs.Kind, cs.Target = inPlace, t[f-2].Text
	case perRow:
		cs.Kind = setBased
	default:
		cs.Kind = expression
	}
	return cs
}

// argsNameColumns reports whether the arguments toks[from:to] read a
// column (a bare name that is not a function, a type or NULL).
func argsNameColumns(t []Token, from, to int) bool {
	for i := from; i < to; i++ {
		if !t[i].IsName() {
			continue
		}
		if i > from && (t[i-1].Is("AS") || t[i-1].IsPunct(".")) {
			continue // a type in CAST(… AS type), or a later part of a name
		}
		if i+1 < to && (t[i+1].IsPunct("(") || t[i+1].IsPunct(".")) {
			if t[i+1].IsPunct("(") {
				continue // a function
			}
		}
		if t[i].Is("NULL") || t[i].Is("MAX") {
			continue
		}
		return true
	}
	return false
}

// fileCallSuggestion is the replacement Offload suggests for a call of a
// CLR file function.
func fileCallSuggestion(f fileFunc, cs callSite) (string, Remedy) {
	args := cs.Args
	if args != "" {
		args += ", "
	}
	switch cs.Kind {
	case inPlace:
		return fmt.Sprintf("EXEC dbo.%s %s%s OUTPUT;", f.Proc, args, cs.Target), Change
	case expression:
		return fmt.Sprintf("DECLARE @r %s; EXEC dbo.%s %s@r OUTPUT; then use @r where the call was", f.OutType, f.Proc, args), Change
	case tableFrom:
		return fmt.Sprintf("INSERT INTO @entries (path, name, isDirectory, sizeBytes, lastModified) EXEC dbo.%s %s; then read @entries (a table variable) where the function was", f.Proc, strings.TrimSuffix(args, ", ")), Change
	case inFunction:
		return fmt.Sprintf("a function or view cannot EXEC a procedure: move the call into the procedure that uses this module (EXEC dbo.%s …) or into the application", f.Proc), Change
	default:
		return fmt.Sprintf("called once per row of a query, which no procedure can be: read the rows into a table variable and EXEC dbo.%s per row in a loop, or have the application read the files (atoms' BlobUri once linked)", f.Proc), Change
	}
}
