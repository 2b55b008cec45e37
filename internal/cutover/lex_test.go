package cutover

import (
	"strings"
	"testing"
)

func TestLex(t *testing.T) {
	src := "SELECT [a]]b].\"c d\" /* x /* nested */ still */ FROM N'it''s' -- tail\n@v @@ROWCOUNT 0x1F #tmp\nx"
	var got []string
	for _, tk := range Lex(src) {
		got = append(got, tk.Text)
	}
	want := []string{"SELECT", "a]b", ".", "c d", "FROM", "it's", "@v", "@@ROWCOUNT", "0x1F", "#tmp", "x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	toks := Lex(src)
	if toks[len(toks)-1].Line != 3 || toks[6].Line != 2 {
		t.Fatalf("lines: %+v", toks)
	}
}

func TestRefs(t *testing.T) {
	refs := Refs(Lex("EXEC srv.db.dbo.p; SELECT db..t.c, [dbo].[clr_X](1)"))
	var got []string
	for _, r := range refs {
		if len(r.Parts) > 1 {
			s := strings.Join(r.Parts, "/")
			if r.Call {
				s += "()"
			}
			got = append(got, s)
		}
	}
	want := []string{"srv/db/dbo/p", "db//t/c", "dbo/clr_X()"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("refs %q, want %q", got, want)
	}
}

// FuzzLex: any text lexes without a panic, and tokens stay inside it in
// order.
func FuzzLex(f *testing.F) {
	for _, s := range []string{"SELECT 'a", "[x", "/* /*", "N'", "@", "\"q", "a.b..c("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		end := 0
		for _, tk := range Lex(s) {
			if tk.Start < end || tk.End > len(s) || tk.End < tk.Start {
				t.Fatalf("token %+v out of place in %q", tk, s)
			}
			end = tk.End
		}
		Refs(Lex(s))
	})
}
