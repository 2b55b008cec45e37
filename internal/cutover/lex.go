package cutover

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The module text of sys.sql_modules.definition is read with a small T-SQL
// lexer, not with regular expressions over the raw text: a name inside a
// comment or a string literal is not a reference, a bracketed ([dbo].[x])
// or double-quoted name is, and so is an unqualified one. Microsoft's
// assessment reads module text the same way ("Affected Objects" of each
// rule, sql-docs azure-sql/migration-guides/database/
// sql-server-to-sql-database-assessment-rules.md): sys.sql_expression_dependencies
// alone misses dynamic SQL, and is an empty stub on the test engine.

// Kind is a token's class.
type Kind int

const (
	Word     Kind = iota // unquoted identifier or keyword
	Quoted               // [bracketed] or "double-quoted" identifier
	String               // '…' or N'…' literal (Text holds its value)
	Variable             // @local or @@global
	Number               // 123, 1.5, 0x1F
	Punct                // one character: ( ) , . ; = + - * / …
)

// Token is one lexeme of a module. Comments and white space produce none.
type Token struct {
	Kind Kind
	// Text is the identifier without its quotes, the literal's value
	// (quotes undoubled), or the lexeme itself.
	Text string
	// Line is 1-based, counted in the module's definition.
	Line int
	// Start and End are byte offsets of the lexeme in the definition.
	Start, End int
}

// Is reports whether t is the unquoted keyword kw (any case).
func (t Token) Is(kw string) bool { return t.Kind == Word && strings.EqualFold(t.Text, kw) }

// IsPunct reports whether t is the punctuation p.
func (t Token) IsPunct(p string) bool { return t.Kind == Punct && t.Text == p }

// IsName reports whether t can be part of a name.
func (t Token) IsName() bool { return t.Kind == Word || t.Kind == Quoted }

// Lex splits a T-SQL module into tokens. It never fails: an unterminated
// comment, literal or bracket runs to the end of the text (SQL Server would
// have refused to create such a module, so only a fragment reaches here).
func Lex(src string) []Token {
	l := lexer{src: src, line: 1}
	for l.pos < len(src) {
		l.next()
	}
	return l.toks
}

type lexer struct {
	src  string
	pos  int
	line int
	toks []Token
}

func (l *lexer) emit(k Kind, text string, start, line int) {
	l.toks = append(l.toks, Token{Kind: k, Text: text, Line: line, Start: start, End: l.pos})
}

// advance moves to end, counting the lines it passes.
func (l *lexer) advance(end int) {
	if end > len(l.src) {
		end = len(l.src)
	}
	l.line += strings.Count(l.src[l.pos:end], "\n")
	l.pos = end
}

func (l *lexer) next() {
	s, start, line := l.src, l.pos, l.line
	c := s[start]
	switch {
	case c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
		l.advance(start + 1)
	case strings.HasPrefix(s[start:], "--"):
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s) - start
		}
		l.advance(start + end)
	case strings.HasPrefix(s[start:], "/*"):
		l.advance(blockCommentEnd(s, start))
	case c == '\'' || ((c == 'N' || c == 'n') && start+1 < len(s) && s[start+1] == '\''):
		q := start
		if c != '\'' {
			q++
		}
		text, end := quoted(s, q, '\'')
		l.advance(end)
		l.emit(String, text, start, line)
	case c == '[':
		text, end := quoted(s, start, ']')
		l.advance(end)
		l.emit(Quoted, text, start, line)
	case c == '"':
		text, end := quoted(s, start, '"')
		l.advance(end)
		l.emit(Quoted, text, start, line)
	case c == '@':
		end := start + 1
		for end < len(s) && (s[end] == '@' || isNameByte(s, end)) {
			end += nameRuneLen(s, end)
		}
		l.advance(end)
		l.emit(Variable, s[start:end], start, line)
	case c >= '0' && c <= '9':
		end := start + 1
		for end < len(s) && (isNameByte(s, end) || s[end] == '.' || (s[end] >= '0' && s[end] <= '9')) {
			end++
		}
		l.advance(end)
		l.emit(Number, s[start:end], start, line)
	case isNameByte(s, start) || c == '#':
		end := start + nameRuneLen(s, start)
		for end < len(s) && (isNameByte(s, end) || s[end] == '$' || s[end] == '#' || (s[end] >= '0' && s[end] <= '9')) {
			end += nameRuneLen(s, end)
		}
		l.advance(end)
		l.emit(Word, s[start:end], start, line)
	default:
		_, n := utf8.DecodeRuneInString(s[start:])
		l.advance(start + n)
		l.emit(Punct, s[start:start+n], start, line)
	}
}

// blockCommentEnd finds the end of a /* comment */ opened at start.
// T-SQL block comments nest.
func blockCommentEnd(s string, start int) int {
	depth, i := 0, start
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// quoted reads a literal or quoted identifier opened at s[open] and closed
// by close (a doubled close is one character of the value).
func quoted(s string, open int, close byte) (string, int) {
	var b strings.Builder
	i := open + 1
	for i < len(s) {
		if s[i] == close {
			if i+1 < len(s) && s[i+1] == close {
				b.WriteByte(close)
				i += 2
				continue
			}
			return b.String(), i + 1
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String(), len(s)
}

func isNameByte(s string, i int) bool {
	c := s[i]
	if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
		return true
	}
	if c < utf8.RuneSelf {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r)
}

func nameRuneLen(s string, i int) int {
	if s[i] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return n
}
