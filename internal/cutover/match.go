package cutover

// keywords reports whether toks[i:] starts with the words kws (any case).
func keywords(toks []Token, i int, kws ...string) bool {
	if i+len(kws) > len(toks) {
		return false
	}
	for k, kw := range kws {
		if !toks[i+k].Is(kw) {
			return false
		}
	}
	return true
}

// statementStarts are the keywords that begin a T-SQL statement: a scan
// for the end of the statement stops at the first one at depth 0.
var statementStarts = map[string]bool{
	"SET": true, "SELECT": true, "EXEC": true, "EXECUTE": true, "IF": true, "ELSE": true,
	"BEGIN": true, "END": true, "RETURN": true, "DECLARE": true, "INSERT": true, "UPDATE": true,
	"DELETE": true, "WHILE": true, "COMMIT": true, "ROLLBACK": true, "PRINT": true, "THROW": true,
	"RAISERROR": true, "BREAK": true, "CONTINUE": true, "WAITFOR": true, "TRUNCATE": true,
	"MERGE": true, "FETCH": true, "OPEN": true, "CLOSE": true, "DEALLOCATE": true, "SEND": true,
	"RECEIVE": true, "GOTO": true, "CREATE": true, "ALTER": true, "DROP": true,
}

func startsStatement(t Token) bool {
	if t.Kind != Word {
		return false
	}
	return statementStarts[upper(t.Text)]
}

// statementEnd returns the index after the last token of the statement
// that goes on at from: the first ";" or statement keyword at paren depth
// 0 (an approximation of T-SQL's grammar that is enough to see whether a
// call stands alone or inside a query).
func statementEnd(toks []Token, from int) int {
	depth := 0
	for i := from; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.IsPunct("("):
			depth++
		case t.IsPunct(")"):
			if depth == 0 {
				return i
			}
			depth--
		case depth == 0 && (t.IsPunct(";") || startsStatement(t)):
			return i
		}
	}
	return len(toks)
}

// containsWord reports whether toks[from:to] holds the keyword kw at any
// depth.
func containsWord(toks []Token, from, to int, kw string) bool {
	for i := from; i < to && i < len(toks); i++ {
		if toks[i].Is(kw) {
			return true
		}
	}
	return false
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// eachToken calls f for every token of every module that has text.
func (in *Input) eachToken(f func(m Scanned, i int)) {
	for _, m := range in.Modules {
		for i := range m.Toks {
			f(m, i)
		}
	}
}

// eachRef calls f for every name in every module.
func (in *Input) eachRef(f func(m Scanned, r Ref)) {
	for _, m := range in.Modules {
		for _, r := range m.Refs {
			f(m, r)
		}
	}
}
