package cutover

import "strings"

// Ref is a possibly qualified name in a module: server.db.schema.object,
// db..object, schema.object or object. Parts are as written, unquoted; an
// omitted part (db..object) is "".
type Ref struct {
	Parts []string
	Line  int
	// First and Last index the tokens of the name (Last inclusive).
	First, Last int
	// Call is set when "(" follows the name: a function call, a table-valued
	// function, or a keyword such as OPENROWSET(…).
	Call bool
}

// Object is the last part of the name.
func (r Ref) Object() string { return r.Parts[len(r.Parts)-1] }

// Schema is the part before the object, "" when unqualified.
func (r Ref) Schema() string {
	if len(r.Parts) < 2 {
		return ""
	}
	return r.Parts[len(r.Parts)-2]
}

// String writes the name as it is written in the module, bracket-free.
func (r Ref) String() string { return strings.Join(r.Parts, ".") }

// Refs lists every name of toks, longest first: "dbo.clr_ReadFileText" is
// one Ref, not two.
func Refs(toks []Token) []Ref {
	var out []Ref
	for i := 0; i < len(toks); i++ {
		if !toks[i].IsName() || (i > 0 && toks[i-1].IsPunct(".")) {
			continue
		}
		r := Ref{Parts: []string{toks[i].Text}, Line: toks[i].Line, First: i, Last: i}
		j := i + 1
		for j < len(toks) && toks[j].IsPunct(".") && len(r.Parts) < 4 {
			if j+1 < len(toks) && toks[j+1].IsName() {
				r.Parts = append(r.Parts, toks[j+1].Text)
				r.Last = j + 1
				j += 2
				continue
			}
			if j+1 < len(toks) && toks[j+1].IsPunct(".") { // db..object
				r.Parts = append(r.Parts, "")
				j++
				continue
			}
			break
		}
		r.Call = r.Last+1 < len(toks) && toks[r.Last+1].IsPunct("(")
		out = append(out, r)
		i = r.Last
	}
	return out
}

// closeParen returns the index of the ")" matching the "(" at open, or
// len(toks)-1 when the text ends first.
func closeParen(toks []Token, open int) int {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch {
		case toks[i].IsPunct("("):
			depth++
		case toks[i].IsPunct(")"):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(toks) - 1
}

// sameName compares identifiers as SQL Server does under a case-insensitive
// collation (the Hartonomous database's).
func sameName(a, b string) bool { return strings.EqualFold(a, b) }
