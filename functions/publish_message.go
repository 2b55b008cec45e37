package functions

import "github.com/hartonomous/offload/internal/server"

func init() { register("PublishMessage", PublishMessage) }

// PublishMessage is POST api/messages/{queue}: a JSON body sent to one of
// the PUBLISH_QUEUES as a base64 queue message.
func PublishMessage(d Deps) server.Entry {
	if d.Publish == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: d.Publish.Handler(), BodyRequired: true}
}
