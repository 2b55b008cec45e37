package hostsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/hartonomous/offload/internal/config"
)

// queueListener is QueueListener + QueueProcessor for one queue function.
type queueListener struct {
	s      *Sim
	f      *Function
	queue  *azqueue.QueueClient
	poison *azqueue.QueueClient
	opt    config.HostQueues
}

func (s *Sim) newQueueListener(f *Function) (*queueListener, error) {
	cs := s.settings[f.Trigger.Connection]
	if cs == "" {
		return nil, fmt.Errorf("hostsim: %s: the connection setting %s is not set (identity-based storage is not simulated)", f.Name, f.Trigger.Connection)
	}
	if strings.EqualFold(strings.TrimSuffix(strings.ReplaceAll(cs, " ", ""), ";"), "UseDevelopmentStorage=true") {
		cs = config.DevConnectionString("127.0.0.1", 10000, 10001)
	}
	svc, err := azqueue.NewServiceClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, fmt.Errorf("hostsim: %s: storage connection: %w", f.Name, err)
	}
	name := f.Trigger.QueueName
	return &queueListener{s: s, f: f, queue: svc.NewQueueClient(name), poison: svc.NewQueueClient(name + "-poison"), opt: s.host.Queues}, nil
}

// run polls until the simulator closes: a batch when the invocations in
// flight are at most newBatchThreshold, backing off (with jitter) up to
// maxPollingInterval while the queue is empty.
func (q *queueListener) run() {
	defer q.s.wg.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, q.opt.BatchSize+q.opt.NewBatchThreshold)
	const minPoll = 100 * time.Millisecond
	delay := time.Duration(0)
	for q.s.ctx.Err() == nil {
		// Wait until the invocations in flight drop to newBatchThreshold.
		for len(sem) > q.opt.NewBatchThreshold {
			select {
			case <-q.s.ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		resp, err := q.queue.DequeueMessages(q.s.ctx, &azqueue.DequeueMessagesOptions{
			NumberOfMessages:  to.Ptr(int32(q.opt.BatchSize)),
			VisibilityTimeout: to.Ptr(int32(dequeueVisibility / time.Second)),
		})
		if err != nil && !queueerror.HasCode(err, queueerror.QueueNotFound) && q.s.ctx.Err() == nil {
			q.s.logf("queue %s: dequeue: %v", q.f.Trigger.QueueName, err)
		}
		if err != nil || len(resp.Messages) == 0 {
			delay = min(max(2*delay, minPoll), q.opt.MaxPollingInterval)
			jitter := time.Duration(rand.Int64N(int64(delay/5) + 1))
			select {
			case <-q.s.ctx.Done():
				return
			case <-time.After(delay - jitter):
			}
			continue
		}
		delay = 0
		for _, m := range resp.Messages {
			if m == nil {
				continue
			}
			sem <- struct{}{}
			inflight.Add(1)
			go func(m *azqueue.DequeuedMessage) {
				defer func() { <-sem; inflight.Done() }()
				q.process(m)
			}(m)
		}
	}
}

// process is one delivery: BeginProcessingMessageAsync, the invocation,
// CompleteProcessingMessageAsync.
func (q *queueListener) process(m *azqueue.DequeuedMessage) {
	id, pop, text := deref(m.MessageID), deref(m.PopReceipt), deref(m.MessageText)
	count := deref(m.DequeueCount)
	if count > int64(q.opt.MaxDequeueCount) {
		q.toPoison(id, pop, text, "its dequeue count is over maxDequeueCount")
		return
	}
	body := []byte(text)
	if q.opt.MessageEncoding == "base64" {
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			q.toPoison(id, pop, text, "message decoding has failed: it is not base64 (check messageEncoding)")
			return
		}
		body = b
	}
	// Keep the message invisible while it runs (the listener's
	// UpdateQueueMessageVisibilityCommand, at half the visibility).
	renewed := make(chan struct{})
	var popMu sync.Mutex
	go func() {
		t := time.NewTicker(dequeueVisibility / 2)
		defer t.Stop()
		for {
			select {
			case <-renewed:
				return
			case <-t.C:
				popMu.Lock()
				if r, err := q.queue.UpdateMessage(q.s.ctx, id, pop, text, &azqueue.UpdateMessageOptions{
					VisibilityTimeout: to.Ptr(int32(dequeueVisibility / time.Second))}); err == nil && r.PopReceipt != nil {
					pop = *r.PopReceipt
				}
				popMu.Unlock()
			}
		}
	}()
	inv := q.s.invoke(q.s.ctx, q.f.Name, q.envelope(m, body))
	close(renewed)
	popMu.Lock()
	defer popMu.Unlock()
	if q.s.ctx.Err() != nil {
		return // closing: the message becomes visible on its own
	}
	switch {
	case inv.Succeeded():
		if _, err := q.queue.DeleteMessage(q.s.ctx, id, pop, nil); err != nil {
			q.s.logf("queue %s: delete %s: %v", q.f.Trigger.QueueName, id, err)
		}
	case count >= int64(q.opt.MaxDequeueCount):
		q.toPoison(id, pop, text, fmt.Sprintf("Message has reached MaxDequeueCount of %d", q.opt.MaxDequeueCount))
	default:
		if _, err := q.queue.UpdateMessage(q.s.ctx, id, pop, text, &azqueue.UpdateMessageOptions{
			VisibilityTimeout: to.Ptr(int32(q.opt.VisibilityTimeout / time.Second))}); err != nil {
			q.s.logf("queue %s: release %s: %v", q.f.Trigger.QueueName, id, err)
		}
	}
}

// toPoison copies the message, text unchanged, to <queue>-poison and
// deletes it (CopyMessageToPoisonQueueAsync, then DeleteMessageAsync).
func (q *queueListener) toPoison(id, pop, text, why string) {
	q.s.logf("%s. Moving message %s to queue '%s-poison'.", why, id, q.f.Trigger.QueueName)
	if _, err := q.poison.Create(q.s.ctx, nil); err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
		q.s.logf("queue %s-poison: create: %v", q.f.Trigger.QueueName, err)
	}
	if _, err := q.poison.EnqueueMessage(q.s.ctx, text, &azqueue.EnqueueMessageOptions{TimeToLive: to.Ptr(int32(-1))}); err != nil {
		q.s.logf("queue %s-poison: %v", q.f.Trigger.QueueName, err)
		return
	}
	if _, err := q.queue.DeleteMessage(q.s.ctx, id, pop, nil); err != nil {
		q.s.logf("queue %s: delete %s: %v", q.f.Trigger.QueueName, id, err)
	}
}

// envelope is the invocation the host builds for a queue message whose
// decoded content is body.
func (q *queueListener) envelope(m *azqueue.DequeuedMessage, body []byte) map[string]any {
	var data any
	if strings.EqualFold(q.f.Trigger.DataType, "binary") {
		// byte[] of a binary binding: Newtonsoft writes base64.
		data = base64.StdEncoding.EncodeToString(body)
	} else {
		// The message as a string, through SerializeObject: encoded twice.
		data = hostValue(string(body))
	}
	meta := queueMetadata(m, body)
	meta["sys"] = sysMetadata(q.f.Name, time.Now())
	return map[string]any{"Data": map[string]any{q.f.Trigger.Name: data}, "Metadata": meta}
}

// queueMetadata is QueueTriggerBinding.CreateBindingData as the host sends
// it: its keys (QueueTrigger left out: it ends in "trigger"), then the
// message's own top-level JSON properties over them, case-insensitively
// (a key keeps the spelling it had), each value as GetHttpScriptInvocationContextValue makes it.
func queueMetadata(m *azqueue.DequeuedMessage, body []byte) map[string]any {
	meta := map[string]any{
		"DequeueCount":    hostValue(deref(m.DequeueCount)),
		"ExpirationTime":  hostValue(deref(m.ExpirationTime)),
		"Id":              hostValue(deref(m.MessageID)),
		"InsertionTime":   hostValue(deref(m.InsertionTime)),
		"NextVisibleTime": hostValue(deref(m.TimeNextVisible)),
		"PopReceipt":      hostValue(deref(m.PopReceipt)),
	}
	var own map[string]json.RawMessage
	if json.Unmarshal(body, &own) != nil {
		return meta
	}
	for k, raw := range own {
		key := k
		for existing := range meta {
			if strings.EqualFold(existing, k) {
				key = existing
			}
		}
		if strings.HasSuffix(strings.ToLower(key), "trigger") {
			continue
		}
		var v any = raw
		var str string
		if json.Unmarshal(raw, &str) == nil {
			v = str // a JSON string: SerializeObject encodes it again
		}
		meta[key] = hostValue(v)
	}
	return meta
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
