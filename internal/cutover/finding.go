package cutover

import (
	"fmt"
	"sort"
	"strings"
)

// Severity is the rule's category in Microsoft's assessment: an Issue
// blocks the migration, a Warning does not.
type Severity string

const (
	Issue   Severity = "Issue"
	Warning Severity = "Warning"
)

// Remedy is what Offload does about a finding.
type Remedy string

const (
	// Removed: `offload cutover apply` removes it (once what it says is proven).
	Removed Remedy = "removed by cutover apply"
	// Replaced: Offload ships the replacement (a function, a procedure, the outbox).
	Replaced Remedy = "replaced by Offload"
	// Change: the application (or a DBA) must change it; Suggestion says how.
	Change Remedy = "application must change"
	// Prove: an Offload step has not finished (release, finalize, link).
	Prove Remedy = "finish the Offload step"
	// CannotTell: dynamic SQL or an encrypted module; read it by hand.
	CannotTell Remedy = "cannot tell"
)

// Finding is one thing that stands between the database and Azure SQL
// Database, named as Microsoft's assessment names it.
type Finding struct {
	// Rule is the assessment rule's own name (FileStream, ServiceBroker,
	// ClrAssemblies, …) or Offload's (OffloadReadiness, DynamicSql).
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Object is schema.name (or a database-level name: an assembly, a
	// filegroup, a service).
	Object string `json:"object"`
	// Type says what Object is: SQL_STORED_PROCEDURE, CLR_SCALAR_FUNCTION,
	// FILESTREAM column, service queue, …
	Type string `json:"type"`
	// Line is the line of Object's definition that holds the finding, 0
	// when it is not about module text.
	Line    int    `json:"line,omitempty"`
	Detail  string `json:"detail"`
	Offload Remedy `json:"offload"`
	// Suggestion is the replacement Offload suggests (T-SQL or a step).
	Suggestion string `json:"suggestion,omitempty"`
}

// Blocks reports whether the finding keeps the database off Azure SQL
// Database.
func (f Finding) Blocks() bool { return f.Severity == Issue }

// Report is an assessment.
type Report struct {
	Database string    `json:"database"`
	Findings []Finding `json:"findings"`
	// Counts is the findings by rule.
	Counts []RuleCount `json:"counts"`
	// Blockers is the number of Issue findings; 0 means the database can
	// move.
	Blockers int    `json:"blockers"`
	Verdict  string `json:"verdict"`
}

// RuleCount is the number of findings of one rule.
type RuleCount struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Findings int      `json:"findings"`
}

// finish sorts the findings, counts them and writes the verdict.
func (r *Report) finish() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity == Issue
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		return a.Line < b.Line
	})
	idx := map[string]int{}
	r.Counts = nil
	r.Blockers = 0
	for _, f := range r.Findings {
		if f.Blocks() {
			r.Blockers++
		}
		i, ok := idx[f.Rule]
		if !ok {
			i = len(r.Counts)
			idx[f.Rule] = i
			r.Counts = append(r.Counts, RuleCount{Rule: f.Rule, Severity: f.Severity})
		}
		r.Counts[i].Findings++
	}
	if r.Blockers == 0 {
		r.Verdict = "nothing blocks Azure SQL Database"
		return
	}
	var rules []string
	for _, c := range r.Counts {
		if c.Severity == Issue {
			rules = append(rules, c.Rule)
		}
	}
	r.Verdict = fmt.Sprintf("%d blocker(s) left: %s", r.Blockers, strings.Join(rules, ", "))
}
