// A Telemetry Vault client in Go, from code generated out of proto/ with plain
// `protoc -I proto --go_out=... --go-grpc_out=...` (no M options: the contract's
// go_package names the import path). test/e2e/other-language-clients.test.ts
// builds it offline against Debian's Go packages.
//
// Reads one JSON request from stdin:
//
//	{"address": "127.0.0.1:50051", "apiKey": "tv_...",
//	 "event": {"eventId": "...", "eventType": "log", "serviceName": "...", "payload": {...}}}
//
// makes one Ingest call with that event (payload as a google.protobuf.Struct),
// then one QueryEvents call for the event's service, and prints what came back
// as JSON (the same shape as test/clients/python/client.py). A failed call
// prints {"error": {...}} and exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	telemetryv1 "github.com/telemetry-vault/telemetry-vault/gen/go/telemetry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type request struct {
	Address string `json:"address"`
	APIKey  string `json:"apiKey"`
	Event   struct {
		EventID     string                 `json:"eventId"`
		EventType   string                 `json:"eventType"`
		ServiceName string                 `json:"serviceName"`
		Payload     map[string]interface{} `json:"payload"`
	} `json:"event"`
}

type readEvent struct {
	EventID       string                 `json:"eventId"`
	EventType     string                 `json:"eventType"`
	ServiceName   string                 `json:"serviceName"`
	PayloadKind   string                 `json:"payloadKind"`
	Payload       map[string]interface{} `json:"payload"`
	HasReceivedAt bool                   `json:"hasReceivedAt"`
}

type ingestResult struct {
	Accepted   int64    `json:"accepted"`
	Duplicates int64    `json:"duplicates"`
	Rejected   int64    `json:"rejected"`
	Reasons    []string `json:"reasons"`
}

func main() {
	os.Exit(run())
}

func run() int {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request on stdin:", err)
		return 2
	}
	payload, err := structpb.NewStruct(req.Event.Payload)
	if err != nil {
		fmt.Fprintln(os.Stderr, "payload is not a Struct:", err)
		return 2
	}
	conn, err := grpc.Dial(req.Address, grpc.WithInsecure())
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-api-key", req.APIKey), 30*time.Second)
	defer cancel()

	event := &telemetryv1.Event{
		EventId:     req.Event.EventID,
		Timestamp:   timestamppb.New(time.Now().Add(-time.Second)),
		EventType:   req.Event.EventType,
		ServiceName: req.Event.ServiceName,
		Body:        &telemetryv1.Event_Payload{Payload: payload},
	}
	ingested, err := telemetryv1.NewIngestServiceClient(conn).Ingest(ctx, &telemetryv1.IngestRequest{Events: []*telemetryv1.Event{event}})
	if err != nil {
		return fail("Ingest", err)
	}
	page, err := telemetryv1.NewQueryServiceClient(conn).QueryEvents(ctx, &telemetryv1.QueryEventsRequest{
		Filter: &telemetryv1.EventFilter{ServiceNames: []string{req.Event.ServiceName}},
		Limit:  10,
	})
	if err != nil {
		return fail("QueryEvents", err)
	}

	result := ingestResult{Accepted: ingested.Accepted, Duplicates: ingested.Duplicates, Rejected: ingested.Rejected, Reasons: []string{}}
	for _, rejected := range ingested.RejectedEvents {
		result.Reasons = append(result.Reasons, rejected.Reason)
	}
	events := []readEvent{}
	for _, read := range page.Events {
		kind := ""
		switch read.Body.(type) {
		case *telemetryv1.Event_Payload:
			kind = "payload"
		case *telemetryv1.Event_PayloadJson:
			kind = "payload_json"
		}
		events = append(events, readEvent{
			EventID:       read.EventId,
			EventType:     read.EventType,
			ServiceName:   read.ServiceName,
			PayloadKind:   kind,
			Payload:       read.GetPayload().AsMap(),
			HasReceivedAt: read.ReceivedAt != nil,
		})
	}
	out, _ := json.Marshal(map[string]interface{}{"ingest": result, "events": events})
	fmt.Println(string(out))
	return 0
}

func fail(call string, err error) int {
	s := status.Convert(err)
	out, _ := json.Marshal(map[string]interface{}{"error": map[string]string{"call": call, "code": s.Code().String(), "details": s.Message()}})
	fmt.Println(string(out))
	return 1
}
