package cutover

import (
	"fmt"
	"sort"
	"strings"
)

// Step is one idempotent unit of `cutover apply`: T-SQL batches run in
// order on one connection. Every batch checks the catalog before it
// changes anything, so a step (and the whole plan) can run again after a
// failure at any statement.
type Step struct {
	// Part is FILESTREAM, Service Broker or CLR.
	Part  string
	Title string
	// Why is the step's comment in the script.
	Why     string
	Batches []string
	// Checks are the SQL Server-only statements of the step on their own
	// (without the guard around them), and the text a batch runs through
	// sp_executesql: what a test checks against a T-SQL grammar.
	Checks []string
}

// Plan is what `cutover apply` does, or why it refuses.
type Plan struct {
	Database string
	// Refusals: apply changes nothing while any is left.
	Refusals []string
	// Kept names what the plan leaves in place and why (a module still
	// references it, it holds data).
	Kept  []string
	Steps []Step
}

// Refused reports whether apply must not run.
func (p Plan) Refused() bool { return len(p.Refusals) > 0 }

// PlanApply builds the plan from an assessment's input.
func (in *Input) PlanApply() Plan {
	p := Plan{Database: in.Database.Name, Refusals: in.refusals()}
	in.planFilestream(&p)
	in.planBroker(&p)
	in.planCLR(&p)
	return p
}

// refusals: Offload's own proof must be complete, and every service with
// messages waiting needs a Storage Queue.
func (in *Input) refusals() []string {
	r := in.Readiness
	var out []string
	if r.HasSegmentsTable {
		if r.Unverified > 0 {
			out = append(out, fmt.Sprintf("%d segment(s) are not verified: run `offload segments migrate` and `offload segments verify`", r.Unverified))
		}
		if r.Unreleased > 0 {
			out = append(out, fmt.Sprintf("%d segment(s) are not released: run `offload segments release --confirm`", r.Unreleased))
		}
		if r.RawPayload {
			out = append(out, "dbo.LayerTensorSegments.RawPayload still exists: run `offload schema finalize`")
		}
	}
	hasBroker := len(in.Broker.Queues) > 0 || len(in.Broker.Transmission) > 0
	if hasBroker && !r.HasOutbox {
		out = append(out, "dbo.OffloadOutbox or dbo.usp_PublishMessage is missing: run `offload schema apply` before moving Service Broker messages")
	}
	seen := map[string]bool{}
	waiting := append([]ServiceCount{}, in.Broker.Transmission...)
	for _, q := range in.Broker.Queues {
		waiting = append(waiting, q.Waiting...)
	}
	for _, w := range waiting {
		if _, ok := in.Options.queueFor(w.ServiceName); !ok && w.Messages > 0 && !seen[w.ServiceName] {
			seen[w.ServiceName] = true
			out = append(out, fmt.Sprintf("service %s has messages waiting and no Storage Queue: add it to BROKER_SERVICE_QUEUES (service=queue)", w.ServiceName))
		}
	}
	return out
}

func (p *Plan) add(s Step) { p.Steps = append(p.Steps, s) }

func (p *Plan) keep(format string, args ...any) {
	p.Kept = append(p.Kept, fmt.Sprintf(format, args...))
}

// planCLR drops the eight file functions no module calls, then each
// assembly that defines nothing else.
func (in *Input) planCLR(p *Plan) {
	callers := in.clrCallers()
	dropped := map[int64]bool{}
	for _, m := range in.CLR.Modules {
		ff, ok := fileFuncNamed(m.Name)
		if !ok {
			continue
		}
		if c := callers[strings.ToLower(m.Name)]; len(c) > 0 {
			p.keep("CLR function %s.%s: still called by %s", m.SchemaName, m.Name, strings.Join(c, ", "))
			continue
		}
		dropped[m.ObjectID] = true
		obj := qn2(m.SchemaName, m.Name)
		p.add(Step{Part: "CLR", Title: "drop CLR function " + m.SchemaName + "." + m.Name,
			Why: fmt.Sprintf("Azure SQL Database runs no CLR (rule ClrAssemblies); dbo.%s replaces it and no module calls it. The check on sys.sql_expression_dependencies keeps it while a schema-bound or known reference remains.", ff.Proc),
			Batches: []string{fmt.Sprintf(`IF OBJECT_ID(%s) IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM sys.sql_expression_dependencies WHERE referenced_id = OBJECT_ID(%s))
    DROP FUNCTION %s;`, nlit(obj), nlit(obj), obj)},
			Checks: []string{"DROP FUNCTION " + obj + ";"}})
	}
	for _, a := range in.CLR.Assemblies {
		if !in.assemblyEmptied(a, dropped) {
			p.keep("CLR assembly %s: it defines objects Offload does not replace (or still called)", a.Name)
			continue
		}
		p.add(Step{Part: "CLR", Title: "drop CLR assembly " + a.Name,
			Why: "nothing it defines is left once its file functions are dropped; the checks keep it while any module or type of it remains",
			Batches: []string{fmt.Sprintf(`IF EXISTS (SELECT 1 FROM sys.assemblies WHERE name = %[1]s)
   AND NOT EXISTS (SELECT 1 FROM sys.assembly_modules AS m JOIN sys.assemblies AS a ON a.assembly_id = m.assembly_id WHERE a.name = %[1]s)
   AND NOT EXISTS (SELECT 1 FROM sys.assembly_types AS t JOIN sys.assemblies AS a ON a.assembly_id = t.assembly_id WHERE a.name = %[1]s)
    DROP ASSEMBLY %[2]s;`, nlit(a.Name), qn(a.Name))},
			Checks: []string{"DROP ASSEMBLY " + qn(a.Name) + ";"}})
	}
}

func (in *Input) assemblyEmptied(a Assembly, dropped map[int64]bool) bool {
	for _, m := range in.CLR.Modules {
		if m.AssemblyID == a.AssemblyID && !dropped[m.ObjectID] {
			return false
		}
	}
	for _, t := range in.CLR.Types {
		if t.AssemblyID == a.AssemblyID {
			return false
		}
	}
	return true
}

// clrCallers maps a CLR object's name (lower case) to the modules that
// call it.
func (in *Input) clrCallers() map[string][]string {
	clr := map[string]AssemblyModule{}
	for _, m := range in.CLR.Modules {
		clr[strings.ToLower(m.SchemaName+"."+m.Name)] = m
	}
	out := map[string][]string{}
	in.eachRef(func(m Scanned, r Ref) {
		if name, ok := in.clrTarget(m, r, clr); ok {
			k := strings.ToLower(name)
			if !contains(out[k], m.Qualified()) {
				out[k] = append(out[k], m.Qualified())
			}
		}
	})
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
