package cutover

import (
	"fmt"
	"sort"
	"strings"
)

// ServiceBroker: Azure SQL Database has no Service Broker (sql-docs
// azure-sql/migration-guides/database/
// sql-server-to-sql-database-assessment-rules.md#ServiceBroker). Offload's
// outbox (dbo.OffloadOutbox, dbo.usp_PublishMessage, the drain to Storage
// Queues) replaces it; cutover apply moves what is still waiting and drops
// the objects. Catalog views: sys.service_message_types,
// sys.service_contracts, sys.service_queues, sys.services,
// sys.conversation_endpoints, sys.transmission_queue.

var serviceBrokerRule = Rule{
	Name: "ServiceBroker", Severity: Issue,
	Title: "Service Broker feature isn't supported in Azure SQL Database",
	Check: func(in *Input) []Finding {
		b := in.Broker
		var out []Finding
		obj := func(name, typ, detail string) {
			f := Finding{Rule: "ServiceBroker", Severity: Issue, Object: name, Type: typ, Detail: detail, Offload: Removed}
			if refs := in.referencing(name); len(refs) > 0 {
				f.Suggestion = "dropped once no module references it; referenced by " + strings.Join(refs, ", ")
			}
			out = append(out, f)
		}
		for _, q := range b.Queues {
			d := "activation off"
			if q.ActivationProcedure != "" {
				d = fmt.Sprintf("activation %s (%s)", q.ActivationProcedure, onOff(q.IsActivationEnabled))
			}
			obj(q.SchemaName+"."+q.Name, "service queue", d)
			for _, w := range q.Waiting {
				out = append(out, in.waitingFinding(q.SchemaName+"."+q.Name, "messages waiting in queue", w))
			}
		}
		for _, w := range b.Transmission {
			out = append(out, in.waitingFinding("sys.transmission_queue", "messages not yet delivered", w))
		}
		for svc, n := range conversationsByService(b.Conversations) {
			out = append(out, Finding{Rule: "ServiceBroker", Severity: Issue, Object: svc, Type: "open conversations",
				Detail: fmt.Sprintf("%d conversation(s) not closed", n), Offload: Removed,
				Suggestion: "ended WITH CLEANUP by cutover apply in the transaction that moves their last messages"})
		}
		for _, s := range b.Services {
			obj(s.Name, "service", "")
		}
		for _, c := range b.Contracts {
			obj(c.Name, "contract", "")
		}
		for _, mt := range b.MessageTypes {
			obj(mt.Name, "message type", "")
		}
		return append(out, in.brokerStatements()...)
	},
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func conversationsByService(cs []Conversation) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		m[c.ServiceName]++
	}
	return m
}

// waitingFinding reports messages waiting for a service: moved by apply
// when the service has a Storage Queue, a blocker naming the setting when
// it has none.
func (in *Input) waitingFinding(where, typ string, w ServiceCount) Finding {
	f := Finding{Rule: "ServiceBroker", Severity: Issue, Object: where, Type: typ,
		Detail: fmt.Sprintf("%d message(s) for service %s", w.Messages, w.ServiceName)}
	if q, ok := in.Options.queueFor(w.ServiceName); ok {
		f.Offload = Removed
		f.Suggestion = fmt.Sprintf("moved into dbo.OffloadOutbox for Storage Queue %s, in order within each conversation", q)
		return f
	}
	f.Offload = Change
	f.Suggestion = fmt.Sprintf("no Storage Queue is mapped for this service: set BROKER_SERVICE_QUEUES (e.g. %s=neo4j-sync); cutover apply stops until it is", w.ServiceName)
	return f
}

// brokerStatements finds the modules that use Service Broker statements.
func (in *Input) brokerStatements() []Finding {
	var out []Finding
	queue := "<the service's Storage Queue>"
	if len(in.Options.ServiceQueues) == 1 {
		for _, q := range in.Options.ServiceQueues {
			queue = q
		}
	}
	in.eachToken(func(m Scanned, i int) {
		t := m.Toks
		var what, advice string
		switch {
		case keywords(t, i, "SEND", "ON", "CONVERSATION"):
			what = "SEND"
			advice = fmt.Sprintf("EXEC dbo.usp_PublishMessage @Queue = N'%s', @Message = <the body as a JSON document>, @ConversationId = <the key that orders it>; in the same transaction", queue)
		case t[i].Is("RECEIVE") && i+1 < len(t) && (t[i+1].Is("TOP") || t[i+1].IsPunct("*") || t[i+1].IsName()) && containsWord(t, i, statementEnd(t, i+1), "FROM"):
			what = "RECEIVE"
			advice = "the consumer (the Neo4j sync worker) reads the Storage Queue instead (docs/MESSAGING.md); drop this module, or cutover apply keeps the queue it reads"
		case keywords(t, i, "BEGIN", "DIALOG"):
			what = "BEGIN DIALOG"
			advice = "no dialog is needed: the conversation is dbo.usp_PublishMessage's @ConversationId"
		case keywords(t, i, "END", "CONVERSATION"), keywords(t, i, "BEGIN", "CONVERSATION", "TIMER"),
			keywords(t, i, "GET", "CONVERSATION", "GROUP"), keywords(t, i, "MOVE", "CONVERSATION"):
			what = strings.ToUpper(t[i].Text + " " + t[i+1].Text)
			advice = "remove it with the Service Broker code it belongs to"
		default:
			return
		}
		out = append(out, moduleFinding("ServiceBroker", Issue, m, t[i].Line, what, Change, advice))
	})
	return out
}

// referencing names the modules whose text names object (a queue, a
// service, a contract, a message type): quoted or not, qualified or not.
func (in *Input) referencing(object string) []string {
	name := object
	if i := strings.LastIndexByte(object, '.'); i >= 0 && !strings.Contains(object, "/") {
		name = object[i+1:]
	}
	var out []string
	for _, m := range in.Modules {
		for _, t := range m.Toks {
			if t.IsName() && sameName(t.Text, name) || t.Kind == String && sameName(t.Text, object) {
				out = append(out, m.Qualified())
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
