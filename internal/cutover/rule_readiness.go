package cutover

import "fmt"

// OffloadReadiness is Offload's own rule: the database may move only once
// every segment's bytes are proven in Blob Storage and released, RawPayload
// is dropped (`schema finalize`), every atom file is linked, and the outbox
// that replaces Service Broker exists.

var readinessRule = Rule{
	Name: "OffloadReadiness", Severity: Issue,
	Title: "Offload has not finished moving the data out of the database",
	Check: func(in *Input) []Finding {
		r := in.Readiness
		if !r.HasSegmentsTable {
			return nil
		}
		var out []Finding
		add := func(obj, detail, sug string) {
			out = append(out, Finding{Rule: "OffloadReadiness", Severity: Issue, Object: obj, Type: "Offload step",
				Detail: detail, Offload: Prove, Suggestion: sug})
		}
		if r.Unverified > 0 {
			add("dbo.LayerTensorSegments", fmt.Sprintf("%d segment(s) not verified", r.Unverified), "offload segments migrate, then offload segments verify")
		}
		if r.Unreleased > 0 {
			add("dbo.LayerTensorSegments", fmt.Sprintf("%d segment(s) not released", r.Unreleased), "offload segments release --confirm")
		}
		if r.RawPayload {
			add("dbo.LayerTensorSegments.RawPayload", "RawPayload still exists", "offload schema finalize (once every segment is released)")
		}
		if r.AtomsUnlinked > 0 {
			add("dbo.Atoms", fmt.Sprintf("%d atom(s) with a PayloadLocator and no BlobUri", r.AtomsUnlinked), "offload atoms upload, then offload atoms link")
		}
		if !r.HasOutbox {
			add("dbo.OffloadOutbox", "the outbox that replaces Service Broker is missing", "offload schema apply")
		}
		return out
	},
}
