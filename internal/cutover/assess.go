package cutover

import (
	"context"
	"fmt"
	"strings"
)

// Options are the settings the assessment and the plan read.
type Options struct {
	// ServiceQueues maps a Service Broker service name to the Storage Queue
	// its waiting messages move to (BROKER_SERVICE_QUEUES).
	ServiceQueues map[string]string
}

// queueFor returns the Storage Queue a service's messages go to.
func (o Options) queueFor(service string) (string, bool) {
	if q, ok := o.ServiceQueues[service]; ok {
		return q, true
	}
	for s, q := range o.ServiceQueues { // service names compare as names do
		if sameName(s, service) {
			return q, true
		}
	}
	return "", false
}

// Input is everything the rules read, loaded once.
type Input struct {
	Options    Options
	Database   Database
	Modules    []Scanned
	CLR        CLR
	Broker     Broker
	Filestream Filestream
	Readiness  Readiness
}

// Scanned is a module with its text lexed.
type Scanned struct {
	Module
	Toks []Token
	Refs []Ref
}

// Qualified is schema.name.
func (m Module) Qualified() string { return m.SchemaName + "." + m.Name }

// isFunctionOrView: no procedure can be called from its body.
func (m Module) isFunctionOrView() bool {
	switch strings.TrimSpace(m.Type) {
	case "FN", "IF", "TF", "V":
		return true
	}
	return false
}

// Load reads every view once.
func Load(ctx context.Context, v Views, opt Options) (*Input, error) {
	in := &Input{Options: opt}
	var err error
	if in.Database, err = v.Database(ctx); err != nil {
		return nil, fmt.Errorf("cutover: database: %w", err)
	}
	mods, err := v.Modules(ctx)
	if err != nil {
		return nil, fmt.Errorf("cutover: modules: %w", err)
	}
	in.Modules = Scan(mods)
	if in.CLR, err = v.CLR(ctx); err != nil {
		return nil, fmt.Errorf("cutover: clr: %w", err)
	}
	if in.Broker, err = v.Broker(ctx); err != nil {
		return nil, fmt.Errorf("cutover: service broker: %w", err)
	}
	if in.Filestream, err = v.Filestream(ctx); err != nil {
		return nil, fmt.Errorf("cutover: filestream: %w", err)
	}
	if in.Readiness, err = v.Readiness(ctx); err != nil {
		return nil, fmt.Errorf("cutover: readiness: %w", err)
	}
	return in, nil
}

// Scan lexes the modules' definitions.
func Scan(mods []Module) []Scanned {
	out := make([]Scanned, 0, len(mods))
	for _, m := range mods {
		s := Scanned{Module: m}
		if m.Definition != nil {
			s.Toks = Lex(*m.Definition)
			s.Refs = Refs(s.Toks)
		}
		out = append(out, s)
	}
	return out
}

// Assess runs every rule on what v reads.
func Assess(ctx context.Context, v Views, opt Options) (Report, error) {
	in, err := Load(ctx, v, opt)
	if err != nil {
		return Report{}, err
	}
	return in.Assess(), nil
}

// Assess runs every rule on in.
func (in *Input) Assess() Report {
	r := Report{Database: in.Database.Name}
	for _, rule := range Rules {
		r.Findings = append(r.Findings, rule.Check(in)...)
	}
	r.finish()
	return r
}

// Rule is one assessment rule.
type Rule struct {
	// Name is Microsoft's rule name (or Offload's own).
	Name     string
	Severity Severity
	// Title is Microsoft's title of the rule.
	Title string
	// Check returns the rule's findings.
	Check func(in *Input) []Finding
}

// Rules in the order docs/CUTOVER.md lists them.
var Rules = []Rule{
	fileStreamRule,
	serviceBrokerRule,
	clrAssembliesRule,
	bulkInsertRule,
	openRowsetBulkRule,
	openRowsetProviderRule,
	crossDatabaseRule,
	linkedServerRule,
	msdtcRule,
	xpCmdshellRule,
	cryptographicProviderRule,
	disableDefCnstChkRule,
	databasePrincipalAliasRule,
	nextColumnRule,
	databaseSizeRule,
	compatLevelRule,
	raiserrorRule,
	fastFirstRowRule,
	computeClauseRule,
	nonANSILeftRule,
	nonANSIRightRule,
	systemProceduresRule,
	sqlMailRule,
	readinessRule,
	dynamicSQLRule,
}

// moduleFinding is a finding about a line of a module.
func moduleFinding(rule string, sev Severity, m Scanned, line int, detail string, rem Remedy, suggestion string) Finding {
	return Finding{Rule: rule, Severity: sev, Object: m.Qualified(), Type: m.TypeDesc, Line: line,
		Detail: detail, Offload: rem, Suggestion: suggestion}
}
