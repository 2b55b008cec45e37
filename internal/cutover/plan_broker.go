package cutover

import (
	"fmt"
	"strings"
)

// planBroker: activation off; every waiting message into the outbox (see
// broker_sql.go); conversations ended WITH CLEANUP; then services, queues,
// contracts and message types dropped in dependency order, unless a
// module still references one of them (then nothing is dropped and the
// modules are named: the data has moved either way).
func (in *Input) planBroker(p *Plan) {
	b := in.Broker
	if len(b.Queues) == 0 && len(b.Services) == 0 && len(b.Contracts) == 0 && len(b.MessageTypes) == 0 && len(b.Transmission) == 0 {
		return
	}
	m := in.Options.ServiceQueues
	for _, q := range b.Queues {
		if q.ActivationProcedure == "" {
			continue
		}
		obj := qn2(q.SchemaName, q.Name)
		p.add(Step{Part: "Service Broker", Title: "disable activation on " + q.SchemaName + "." + q.Name,
			Why: "the activation procedure " + q.ActivationProcedure + " would take messages the move must take",
			Batches: []string{fmt.Sprintf(`IF EXISTS (SELECT 1 FROM sys.service_queues WHERE object_id = OBJECT_ID(%s) AND is_activation_enabled = 1)
    ALTER QUEUE %s WITH ACTIVATION (STATUS = OFF);`, nlit(obj), obj)},
			Checks: []string{"ALTER QUEUE " + obj + " WITH ACTIVATION (STATUS = OFF);"}})
	}
	p.add(Step{Part: "Service Broker", Title: "create dbo.ufn_OffloadCutoverBase64",
		Why:     "an XML or binary message body travels base64 in a CloudEvent",
		Batches: []string{"DROP FUNCTION IF EXISTS dbo.ufn_OffloadCutoverBase64;", Base64EncodeFunction}})
	for _, q := range b.Queues {
		obj := qn2(q.SchemaName, q.Name)
		body := QueueMoveBody(m, ReceiveTake(obj))
		p.add(Step{Part: "Service Broker", Title: "move the messages waiting in " + q.SchemaName + "." + q.Name + " into dbo.OffloadOutbox",
			Why:     "RECEIVE and dbo.usp_PublishMessage in one transaction per batch: a message leaves the queue only when its outbox row commits; order within a conversation is kept",
			Batches: []string{guardQueue(obj, body)}, Checks: []string{body}})
	}
	tbody := TransmissionMoveBody(m)
	p.add(Step{Part: "Service Broker", Title: "move sys.transmission_queue into dbo.OffloadOutbox",
		Why:     "messages not yet delivered cannot be received: each conversation's rows are copied and the conversation ended WITH CLEANUP in one transaction",
		Batches: []string{tbody}, Checks: []string{"END CONVERSATION @h WITH CLEANUP;"}})
	for _, q := range b.Queues {
		body := EndConversationsBody(m, q.SchemaName, q.Name)
		obj := qn2(q.SchemaName, q.Name)
		p.add(Step{Part: "Service Broker", Title: "end the conversations of " + q.SchemaName + "." + q.Name,
			Why:     "each conversation's last messages are taken and it is ended WITH CLEANUP in one transaction, so nothing sent before the end is lost",
			Batches: []string{guardQueue(obj, body)}, Checks: []string{body}})
	}
	if refs := in.brokerReferences(); len(refs) > 0 {
		p.keep("Service Broker objects: still referenced by %s (the messages are moved; drop or rewrite these modules, then run apply again)", strings.Join(refs, ", "))
	} else {
		in.planBrokerDrops(p)
	}
	p.add(Step{Part: "Service Broker", Title: "drop dbo.ufn_OffloadCutoverBase64",
		Why: "only the move used it", Batches: []string{"DROP FUNCTION IF EXISTS dbo.ufn_OffloadCutoverBase64;"}})
}

// guardQueue runs body only while the queue exists: RECEIVE names the
// queue, so the loop is run through sp_executesql and a re-run after the
// queue was dropped does nothing.
func guardQueue(obj, body string) string {
	return fmt.Sprintf("IF OBJECT_ID(%s, N'SQ') IS NOT NULL\n    EXEC sys.sp_executesql %s;", nlit(obj), nlit(body))
}

// brokerReferences names the modules that reference any broker object.
func (in *Input) brokerReferences() []string {
	b := in.Broker
	var names []string
	for _, q := range b.Queues {
		names = append(names, q.SchemaName+"."+q.Name)
	}
	for _, s := range b.Services {
		names = append(names, s.Name)
	}
	for _, c := range b.Contracts {
		names = append(names, c.Name)
	}
	for _, t := range b.MessageTypes {
		names = append(names, t.Name)
	}
	var out []string
	for _, n := range names {
		for _, r := range in.referencing(n) {
			if !contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func (in *Input) planBrokerDrops(p *Plan) {
	b := in.Broker
	drop := func(kind, view, name, stmt string) {
		p.add(Step{Part: "Service Broker", Title: "drop " + kind + " " + name,
			Why:     "Azure SQL Database has no Service Broker (rule ServiceBroker); its messages are in dbo.OffloadOutbox",
			Batches: []string{fmt.Sprintf("IF EXISTS (SELECT 1 FROM %s WHERE name = %s)\n    %s;", view, nlit(name), stmt)},
			Checks:  []string{stmt + ";"}})
	}
	for _, s := range b.Services {
		drop("service", "sys.services", s.Name, "DROP SERVICE "+qn(s.Name))
	}
	for _, q := range b.Queues {
		obj := qn2(q.SchemaName, q.Name)
		p.add(Step{Part: "Service Broker", Title: "drop queue " + q.SchemaName + "." + q.Name,
			Why:     "its services are dropped and its messages moved",
			Batches: []string{fmt.Sprintf("IF OBJECT_ID(%s, N'SQ') IS NOT NULL\n    DROP QUEUE %s;", nlit(obj), obj)},
			Checks:  []string{"DROP QUEUE " + obj + ";"}})
	}
	for _, c := range b.Contracts {
		drop("contract", "sys.service_contracts", c.Name, "DROP CONTRACT "+qn(c.Name))
	}
	for _, t := range b.MessageTypes {
		drop("message type", "sys.service_message_types", t.Name, "DROP MESSAGE TYPE "+qn(t.Name))
	}
}
