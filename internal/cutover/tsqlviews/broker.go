package tsqlviews

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/offload/internal/cutover"
)

// userBroker keeps Service Broker's own objects (DEFAULT, the
// http://schemas.microsoft.com/SQL/… message types, contracts and
// services) out.
const systemName = "name <> N'DEFAULT' AND name NOT LIKE N'http://schemas.microsoft.com/SQL/%'"

// systemTypes are the message types the move does not carry.
const systemTypes = `N'http://schemas.microsoft.com/SQL/ServiceBroker/EndDialog', N'http://schemas.microsoft.com/SQL/ServiceBroker/Error', N'http://schemas.microsoft.com/SQL/ServiceBroker/DialogTimer'`

// Broker implements cutover.Views.
func (v *Views) Broker(ctx context.Context) (cutover.Broker, error) {
	var b cutover.Broker
	for _, view := range []string{"service_queues", "services", "service_contracts", "service_message_types", "conversation_endpoints", "transmission_queue"} {
		if ok, err := v.has(ctx, view); err != nil || !ok {
			return b, err
		}
	}
	named := func(r *sql.Rows) (cutover.Named, error) {
		var n cutover.Named
		return n, r.Scan(&n.ID, &n.Name)
	}
	var err error
	if b.MessageTypes, err = collect(ctx, v.db, "SELECT message_type_id, name FROM sys.service_message_types WHERE "+systemName+" ORDER BY name", named); err != nil {
		return b, fmt.Errorf("tsqlviews: sys.service_message_types: %w", err)
	}
	if b.Contracts, err = collect(ctx, v.db, "SELECT service_contract_id, name FROM sys.service_contracts WHERE "+systemName+" ORDER BY name", named); err != nil {
		return b, fmt.Errorf("tsqlviews: sys.service_contracts: %w", err)
	}
	if b.Queues, err = v.queues(ctx); err != nil {
		return b, err
	}
	b.Services, err = collect(ctx, v.db, `SELECT sv.service_id, sv.name, sv.service_queue_id FROM sys.services AS sv
JOIN sys.service_queues AS q ON q.object_id = sv.service_queue_id AND q.is_ms_shipped = 0 ORDER BY sv.name`, func(r *sql.Rows) (cutover.Service, error) {
		var s cutover.Service
		return s, r.Scan(&s.ServiceID, &s.Name, &s.ServiceQueueID)
	})
	if err != nil {
		return b, fmt.Errorf("tsqlviews: sys.services: %w", err)
	}
	b.Conversations, err = collect(ctx, v.db, `SELECT CONVERT(nvarchar(36), e.conversation_handle), CONVERT(nvarchar(36), e.conversation_id),
    sv.name, e.state_desc, COALESCE(e.far_service, N'')
FROM sys.conversation_endpoints AS e JOIN sys.services AS sv ON sv.service_id = e.service_id
JOIN sys.service_queues AS q ON q.object_id = sv.service_queue_id AND q.is_ms_shipped = 0
WHERE e.state <> 'CD'`, func(r *sql.Rows) (cutover.Conversation, error) {
		var c cutover.Conversation
		return c, r.Scan(&c.ConversationHandle, &c.ConversationID, &c.ServiceName, &c.StateDesc, &c.FarService)
	})
	if err != nil {
		return b, fmt.Errorf("tsqlviews: sys.conversation_endpoints: %w", err)
	}
	b.Transmission, err = collect(ctx, v.db, `SELECT COALESCE(to_service_name, N''), COUNT_BIG(*) FROM sys.transmission_queue
WHERE COALESCE(message_type_name, N'') NOT IN (`+systemTypes+`) GROUP BY to_service_name`, scanCount)
	if err != nil {
		return b, fmt.Errorf("tsqlviews: sys.transmission_queue: %w", err)
	}
	return b, nil
}

func scanCount(r *sql.Rows) (cutover.ServiceCount, error) {
	var c cutover.ServiceCount
	return c, r.Scan(&c.ServiceName, &c.Messages)
}

// queueCount counts one queue's waiting messages by service; the queue's
// name is quoted by QUOTENAME on the server.
const queueCount = `DECLARE @sql nvarchar(max) = N'SELECT COALESCE(service_name, N''''), COUNT_BIG(*) FROM '
    + QUOTENAME(@p1) + N'.' + QUOTENAME(@p2)
    + N' WHERE COALESCE(message_type_name, N'''') NOT IN (` + "N''http://schemas.microsoft.com/SQL/ServiceBroker/EndDialog'', N''http://schemas.microsoft.com/SQL/ServiceBroker/Error'', N''http://schemas.microsoft.com/SQL/ServiceBroker/DialogTimer''" + `) GROUP BY service_name';
EXEC sys.sp_executesql @sql;`

func (v *Views) queues(ctx context.Context) ([]cutover.ServiceQueue, error) {
	qs, err := collect(ctx, v.db, `SELECT q.object_id, s.name, q.name, COALESCE(q.activation_procedure, N''), q.is_activation_enabled, q.is_receive_enabled
FROM sys.service_queues AS q JOIN sys.schemas AS s ON s.schema_id = q.schema_id
WHERE q.is_ms_shipped = 0 ORDER BY s.name, q.name`, func(r *sql.Rows) (cutover.ServiceQueue, error) {
		var q cutover.ServiceQueue
		return q, r.Scan(&q.ObjectID, &q.SchemaName, &q.Name, &q.ActivationProcedure, &q.IsActivationEnabled, &q.IsReceiveEnabled)
	})
	if err != nil {
		return nil, fmt.Errorf("tsqlviews: sys.service_queues: %w", err)
	}
	for i := range qs {
		if qs[i].Waiting, err = collect(ctx, v.db, queueCount, scanCount, qs[i].SchemaName, qs[i].Name); err != nil {
			return nil, fmt.Errorf("tsqlviews: messages in %s.%s: %w", qs[i].SchemaName, qs[i].Name, err)
		}
	}
	return qs, nil
}
