package hostproto_test

// The literal payloads of REFERENCE §6, as the Functions host sends them.
const (
	// queueDoubleEncoded is a queue trigger with the default dataType: the
	// message and the string metadata are JSON-encoded twice, DequeueCount
	// is a string.
	queueDoubleEncoded = `{"Data":{"msg":"\"{\\\"segmentId\\\":1}\""},"Metadata":{"DequeueCount":"1","ExpirationTime":"\"2024-05-08T10:00:00+00:00\"","Id":"\"5f0c6c1e-2f5b-4b8a-9f5e-3a1d2c4b5e6f\"","InsertionTime":"\"2024-05-01T10:00:00+00:00\"","NextVisibleTime":"\"2024-05-01T10:10:00+00:00\"","PopReceipt":"\"AgAAAAMAAAAAAAAA\"","sys":{"MethodName":"MigrateSegment","UtcNow":"2024-05-01T10:00:01.1234567Z","RandGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}}}`
	// queueDequeueNumber has DequeueCount as a number.
	queueDequeueNumber = `{"Data":{"msg":"\"{\\\"segmentId\\\":2}\""},"Metadata":{"DequeueCount":3,"Id":"\"abc\""}}`
	// queueBinary is "dataType":"binary": the message bytes as base64.
	queueBinary = `{"Data":{"msg":"eyJzZWdtZW50SWQiOjF9"},"Metadata":{"DequeueCount":"2","Id":"\"abc\""}}`
	// queueObject is the message as a plain JSON object.
	queueObject = `{"Data":{"msg":{"segmentId":1}},"Metadata":{"DequeueCount":1,"Id":"abc"}}`
	// queueSingleEncoded is the message JSON-encoded once.
	queueSingleEncoded = `{"Data":{"msg":"{\"segmentId\":1}"},"Metadata":{}}`
	// timerPlain is a timer trigger without a schedule monitor record.
	timerPlain = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"VerifySegments","UtcNow":"2024-05-01T10:00:00.0012345Z","RandGuid":"6d3a2b8e-3c11-4d59-a2a5-9c2e8c0e1f77"}}}`
	// timerDoubleEncoded is the timer value as a JSON string, with a status.
	timerDoubleEncoded = `{"Data":{"timer":"{\"Schedule\":{\"AdjustForDST\":false},\"ScheduleStatus\":{\"Last\":\"2024-05-01T09:50:00+00:00\",\"Next\":\"2024-05-01T10:00:00+00:00\",\"LastUpdated\":\"2024-05-01T09:50:00.0000001\"},\"IsPastDue\":true}"},"Metadata":{}}`
)
