// Package publish is the PublishMessage function (REFERENCE §3): it puts a
// JSON document on an Azure Storage queue, replacing Service Broker SEND.
// Azure SQL calls it with dbo.usp_PublishMessageNow (sql/publish-now-procs.sql)
// through sp_invoke_external_rest_endpoint; consumers (the Neo4j sync) read
// the queue like any Functions queue trigger.
package publish

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/server"
)

// Error codes of refused requests.
const (
	CodeMethod          = server.CodeMethodNotAllowed
	CodeInvalidQueue    = "invalid_queue"
	CodeQueueNotAllowed = "queue_not_allowed"
	CodeMediaType       = "unsupported_media_type"
	CodeNotJSON         = "invalid_json"
	CodeTooLarge        = "too_large"
	CodeStorage         = "storage_error"
)

// MaxBodyBytes is the largest body whose base64 form fits in one queue
// message (broker.MaxMessageBytes, 64 KiB): 48 KiB.
const MaxBodyBytes = broker.MaxMessageBytes / 4 * 3

// Config configures a Service.
type Config struct {
	// Broker is the queue account. Required.
	Broker *broker.Client
	// Allowed are the queues that may be written (PUBLISH_QUEUES).
	Allowed []string
	// Logger receives one line per message published, and failures.
	Logger *slog.Logger
}

// Service publishes messages. Build it with New.
type Service struct {
	broker  *broker.Client
	allowed []string
	log     *slog.Logger
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	s := &Service{broker: cfg.Broker, allowed: slices.Clone(cfg.Allowed), log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Response answers a published message.
type Response struct {
	Queue     string `json:"queue"`
	MessageID string `json:"messageId"`
}

// Handler serves POST /api/messages/:queue.
//
// The queue must be a valid queue name (400 invalid_queue) listed in
// PUBLISH_QUEUES (403 queue_not_allowed); the body must be JSON
// (application/json, 415 otherwise; valid JSON, 400 invalid_json) whose
// base64 form fits in a queue message (413 too_large). The queue is
// created on first use. The body is published byte for byte as sent.
// Success is 201 with {"queue","messageId"}.
func (s *Service) Handler() echo.HandlerFunc {
	return func(c echo.Context) error {
		if ok, err := server.RequirePOST(c); !ok {
			return err
		}
		req := c.Request()
		queue := c.Param("queue")
		if err := config.ValidQueueName(queue); err != nil {
			return server.Error(c, http.StatusBadRequest, CodeInvalidQueue, err.Error())
		}
		if !slices.Contains(s.allowed, queue) {
			return server.Error(c, http.StatusForbidden, CodeQueueNotAllowed,
				fmt.Sprintf("queue %q is not in %s (%s)", queue, config.SettingPublishQueues, strings.Join(s.allowed, ", ")))
		}
		if msg, ok := checkJSON(req.Header.Get("Content-Type")); !ok {
			return server.Error(c, http.StatusUnsupportedMediaType, CodeMediaType, msg)
		}
		if req.ContentLength > MaxBodyBytes {
			return server.Error(c, http.StatusRequestEntityTooLarge, CodeTooLarge, tooLarge(req.ContentLength))
		}
		// One byte over the limit is enough to know the body is too big.
		body, err := io.ReadAll(io.LimitReader(req.Body, MaxBodyBytes+1))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return server.Error(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body is over %d bytes", mbe.Limit))
		case err != nil:
			return server.Error(c, http.StatusBadRequest, "bad_request", "could not read the request body")
		case len(body) > MaxBodyBytes:
			return server.Error(c, http.StatusRequestEntityTooLarge, CodeTooLarge, tooLarge(int64(len(body))))
		}
		if len(strings.TrimSpace(string(body))) == 0 || !json.Valid(body) {
			return server.Error(c, http.StatusBadRequest, CodeNotJSON, "the body is not a JSON document")
		}

		ctx := req.Context()
		if err := s.broker.Ensure(ctx, queue); err != nil {
			s.log.Error("publish: ensure queue", "queue", queue, "err", err)
			return server.Error(c, http.StatusBadGateway, CodeStorage, "queue storage failed (see the handler's logs)")
		}
		id, err := s.broker.Publish(ctx, queue, body, 0)
		if errors.Is(err, broker.ErrTooLarge) {
			return server.Error(c, http.StatusRequestEntityTooLarge, CodeTooLarge, tooLarge(int64(len(body))))
		}
		if err != nil {
			s.log.Error("publish: send", "queue", queue, "err", err)
			return server.Error(c, http.StatusBadGateway, CodeStorage, "queue storage failed (see the handler's logs)")
		}
		s.log.Info("publish: sent", "queue", queue, "messageId", id, "bytes", len(body))
		return c.JSON(http.StatusCreated, Response{Queue: queue, MessageID: id})
	}
}

func tooLarge(n int64) string {
	return fmt.Sprintf("the body is %d bytes: as base64 (%d bytes) it exceeds a queue message's %d bytes; send at most %d bytes",
		n, base64.StdEncoding.EncodedLen(int(n)), broker.MaxMessageBytes, MaxBodyBytes)
}

func checkJSON(ct string) (string, bool) {
	if ct == "" {
		return "Content-Type is missing: send application/json", false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("Content-Type %q is not application/json", ct), false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Sprintf("charset %q is not utf-8", cs), false
	}
	return "", true
}
