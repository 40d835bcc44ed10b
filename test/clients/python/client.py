"""A Telemetry Vault client in Python, from code generated out of proto/ with
plain `python3 -m grpc_tools.protoc -I proto` (test/e2e/other-language-clients.test.ts).

Reads one JSON request from stdin:
  {"address": "127.0.0.1:50051", "apiKey": "tv_...",
   "event": {"eventId": "...", "eventType": "log", "serviceName": "...", "payload": {...}}}
makes one Ingest call with that event (payload as a google.protobuf.Struct), then
one QueryEvents call for the event's service, and prints what came back as JSON:
  {"ingest": {"accepted": 1, "duplicates": 0, "rejected": 0, "reasons": []},
   "events": [{"eventId": "...", ..., "payload": {...}, "hasReceivedAt": true}],
   "protobufBackend": "upb"}
A failed call prints {"error": {"call": ..., "code": ..., "details": ...}} and exits 1.

The generated code's directory comes first on sys.path (argv[1]).
"""
import json
import sys
import time

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from google.protobuf import json_format, struct_pb2  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402
from telemetry.v1 import event_pb2, ingest_service_pb2, ingest_service_pb2_grpc, query_service_pb2, query_service_pb2_grpc  # noqa: E402


def main():
    request = json.load(sys.stdin)
    spec = request["event"]
    metadata = (("x-api-key", request["apiKey"]),)
    payload = struct_pb2.Struct()
    payload.update(spec["payload"])
    event = event_pb2.Event(event_id=spec["eventId"], event_type=spec["eventType"], service_name=spec["serviceName"], payload=payload)
    event.timestamp.FromNanoseconds(time.time_ns() - 1_000_000_000)

    with grpc.insecure_channel(request["address"]) as channel:
        try:
            ingested = ingest_service_pb2_grpc.IngestServiceStub(channel).Ingest(
                ingest_service_pb2.IngestRequest(events=[event]), metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return fail("Ingest", error)
        query = query_service_pb2.QueryEventsRequest(filter=query_service_pb2.EventFilter(service_names=[spec["serviceName"]]), limit=10)
        try:
            page = query_service_pb2_grpc.QueryServiceStub(channel).QueryEvents(query, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return fail("QueryEvents", error)

    print(json.dumps({
        "ingest": {
            "accepted": ingested.accepted,
            "duplicates": ingested.duplicates,
            "rejected": ingested.rejected,
            "reasons": [rejected.reason for rejected in ingested.rejected_events],
        },
        "events": [{
            "eventId": read.event_id,
            "eventType": read.event_type,
            "serviceName": read.service_name,
            "payloadKind": read.WhichOneof("body"),
            "payload": json_format.MessageToDict(read.payload),
            "hasReceivedAt": read.HasField("received_at"),
        } for read in page.events],
        "protobufBackend": api_implementation.Type(),
    }))
    return 0


def fail(call, error):
    print(json.dumps({"error": {"call": call, "code": error.code().name, "details": error.details()}}))
    return 1


if __name__ == "__main__":
    sys.exit(main())
