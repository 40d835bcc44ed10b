"""Decodes each case file (a serialized telemetry.v1.QueryEventsResponse) with
Python's protobuf, as grpcio's response deserializer does, and prints one line
per file: `<file>\tok` or `<file>\tfail\t<error>`. The first line names the
protobuf version and backend (upb, cpp or python).

Usage: python3 decode.py GENERATED_DIR CASES_DIR
"""
import os
import sys

sys.path.insert(0, sys.argv[1])

import google.protobuf  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402
from telemetry.v1 import query_service_pb2  # noqa: E402

print(f"runtime\tprotobuf {google.protobuf.__version__} ({api_implementation.Type()} backend)")
for name in sorted(os.listdir(sys.argv[2])):
    with open(os.path.join(sys.argv[2], name), "rb") as file:
        data = file.read()
    try:
        query_service_pb2.QueryEventsResponse.FromString(data)
        print(f"{name}\tok")
    except Exception as error:  # what grpcio turns into INTERNAL "Exception deserializing response"
        print(f"{name}\tfail\t{type(error).__name__}: {str(error)[:120]}")
