#!/usr/bin/env python3
"""Produce Jaeger-format span messages to Kafka, as Jaeger's collector does, with a producer that is not Spoor's.

The producer is confluent-kafka (PyPI, its own bundled librdkafka). The message value is built here, from
the field tables of jaeger-idl `proto/api_v2/model.proto` (spec section 1.3), with a tiny protobuf writer:
no generated code, no protobuf package. So what the ingester reads was encoded independently of Spoor's
Rust codecs.

    $KAFKA_PYTHON tests/clients/send_kafka_jaeger.py --brokers 127.0.0.1:9092 --topic jaeger-spans \
        [--encoding protobuf|json] [--spans 3] [--trace-id HEX] [--service NAME] \
        [--header spoor-namespace=team-a ...] [--partitioner murmur2_random]

One message per span; key = the trace id as Jaeger's TraceID.String() (16 hex chars for a 64-bit id, else
32); no headers unless --header is given (Jaeger's own messages have none). The spans form one trace: a
root SERVER span and CLIENT children with CHILD_OF references, tags of every value type, a log, process
tags and a warning.

Prints one JSON object on stdout: {"ok", "topic", "encoding", "trace_id", "spans": [{"span_id",
"operation_name", "partition", "offset"}...]}. Exits 1 (error on stderr) when a message is not delivered
within --timeout seconds. Setup: `tests/clients/setup-python kafka` prints KAFKA_PYTHON=...
"""

import argparse
import base64
import json
import struct
import sys
import time

# ---- protobuf wire format (varint = 0, fixed64 = 1, length-delimited = 2)


def varint(value):
    value &= (1 << 64) - 1  # negative int64/enums: two's complement, 10 bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field, wire_type):
    return varint((field << 3) | wire_type)


def f_varint(field, value):
    return key(field, 0) + varint(value) if value else b""


def f_bytes(field, data):
    return key(field, 2) + varint(len(data)) + data if data else b""


def f_string(field, text):
    return f_bytes(field, text.encode("utf-8"))


def f_message(field, encoded):
    # an embedded message is written even when empty (it is present)
    return key(field, 2) + varint(len(encoded)) + encoded


def f_double(field, value):
    return key(field, 1) + struct.pack("<d", value) if value != 0.0 else b""


# ---- jaeger.api_v2 messages (field numbers from model.proto)

STRING, BOOL, INT64, FLOAT64, BINARY = 0, 1, 2, 3, 4
VALUE_TYPE_NAMES = ["STRING", "BOOL", "INT64", "FLOAT64", "BINARY"]
CHILD_OF, FOLLOWS_FROM = 0, 1


def key_value(kv):
    k, v_type, value = kv
    out = f_string(1, k) + f_varint(2, v_type)
    if v_type == STRING:
        out += f_string(3, value)
    elif v_type == BOOL:
        out += f_varint(4, 1 if value else 0)
    elif v_type == INT64:
        out += f_varint(5, value)
    elif v_type == FLOAT64:
        out += f_double(6, value)
    elif v_type == BINARY:
        out += f_bytes(7, value)
    return out


def timestamp(unix_nanos):
    return f_varint(1, unix_nanos // 1_000_000_000) + f_varint(2, unix_nanos % 1_000_000_000)


def span_proto(span):
    out = f_bytes(1, span["trace_id"]) + f_bytes(2, span["span_id"]) + f_string(3, span["operation_name"])
    for ref_type, trace_id, span_id in span["references"]:
        out += f_message(4, f_bytes(1, trace_id) + f_bytes(2, span_id) + f_varint(3, ref_type))
    out += f_varint(5, span["flags"])
    out += f_message(6, timestamp(span["start_nanos"]))
    out += f_message(7, timestamp(span["duration_nanos"]))  # Duration has the same two fields
    for kv in span["tags"]:
        out += f_message(8, key_value(kv))
    for log_nanos, fields in span["logs"]:
        out += f_message(9, f_message(1, timestamp(log_nanos)) + b"".join(f_message(2, key_value(f)) for f in fields))
    process = f_string(1, span["service"]) + b"".join(f_message(2, key_value(kv)) for kv in span["process_tags"])
    out += f_message(10, process)
    for warning in span["warnings"]:
        out += f_string(12, warning)
    return out


# ---- Jaeger's `json` encoding: gogo jsonpb, compact, zero values omitted, int64 as strings


def rfc3339(unix_nanos):
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + fraction(nanos) + "Z"


def fraction(nanos):
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return ".%03d" % (nanos // 1_000_000)
    if nanos % 1_000 == 0:
        return ".%06d" % (nanos // 1_000)
    return ".%09d" % nanos


def b64(data):
    return base64.b64encode(data).decode("ascii")


def key_value_json(kv):
    k, v_type, value = kv
    out = {"key": k}
    if v_type != STRING:
        out["vType"] = VALUE_TYPE_NAMES[v_type]
    if v_type == STRING and value:
        out["vStr"] = value
    elif v_type == BOOL and value:
        out["vBool"] = True
    elif v_type == INT64 and value:
        out["vInt64"] = str(value)
    elif v_type == FLOAT64 and value:
        out["vFloat64"] = value
    elif v_type == BINARY and value:
        out["vBinary"] = b64(value)
    return out


def span_json(span):
    out = {"traceId": b64(span["trace_id"]), "spanId": b64(span["span_id"]), "operationName": span["operation_name"]}
    if span["references"]:
        refs = []
        for ref_type, trace_id, span_id in span["references"]:
            ref = {"traceId": b64(trace_id), "spanId": b64(span_id)}
            if ref_type == FOLLOWS_FROM:
                ref["refType"] = "FOLLOWS_FROM"
            refs.append(ref)
        out["references"] = refs
    if span["flags"]:
        out["flags"] = span["flags"]
    out["startTime"] = rfc3339(span["start_nanos"])
    seconds, nanos = divmod(span["duration_nanos"], 1_000_000_000)
    out["duration"] = "%d%ss" % (seconds, fraction(nanos))
    if span["tags"]:
        out["tags"] = [key_value_json(kv) for kv in span["tags"]]
    if span["logs"]:
        out["logs"] = [
            {"timestamp": rfc3339(log_nanos), "fields": [key_value_json(f) for f in fields]}
            for log_nanos, fields in span["logs"]
        ]
    out["process"] = {"serviceName": span["service"], "tags": [key_value_json(kv) for kv in span["process_tags"]]}
    if span["warnings"]:
        out["warnings"] = span["warnings"]
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---- the trace


def trace_id_string(trace_id):
    """Jaeger's TraceID.String(): %016x of the low half when the high half is zero, else 32 hex chars."""
    high, low = trace_id[:8], trace_id[8:]
    return low.hex() if high == bytes(8) else trace_id.hex()


def build_spans(trace_id, service, count, base_nanos):
    root_id = (0x1000).to_bytes(8, "big")
    spans = []
    for index in range(count):
        span_id = (0x1000 + index).to_bytes(8, "big")
        spans.append(
            {
                "trace_id": trace_id,
                "span_id": span_id,
                "operation_name": "kafka-root" if index == 0 else "kafka-child-%d" % index,
                "references": [] if index == 0 else [(CHILD_OF, trace_id, root_id)],
                "flags": 1,
                "start_nanos": base_nanos + index * 1_000_000,
                "duration_nanos": 22_938_000 if index == 0 else 1_500_000,
                "tags": [
                    ("span.kind", STRING, "server" if index == 0 else "client"),
                    ("http.status_code", INT64, 200),
                    ("retries", INT64, -3),
                    ("error", BOOL, index == 2),
                    ("sampler.param", FLOAT64, 0.25),
                    ("payload", BINARY, b"\xde\xad\xbe\xef"),
                ],
                "logs": [(base_nanos + index * 1_000_000 + 500_000, [("event", STRING, "cache miss"), ("attempt", INT64, 1)])],
                "service": service,
                "process_tags": [("hostname", STRING, "py-producer"), ("jaeger.version", STRING, "Python-confluent")],
                "warnings": ["written by send_kafka_jaeger.py"] if index == 0 else [],
            }
        )
    return spans


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="jaeger-spans")
    parser.add_argument("--encoding", choices=["protobuf", "json"], default="protobuf")
    parser.add_argument("--spans", type=int, default=3)
    parser.add_argument("--trace-id", help="16 or 32 hex chars (default: a fresh 128-bit id)")
    parser.add_argument("--service", default="kafka-python-producer")
    parser.add_argument("--header", action="append", default=[], help="K=V, repeatable")
    parser.add_argument("--partitioner", default="fnv1a_random", help="librdkafka partitioner (fnv1a = Sarama's)")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    try:
        from confluent_kafka import Producer
    except ImportError:
        print("confluent-kafka is not installed: run tests/clients/setup-python kafka", file=sys.stderr)
        return 1

    if args.trace_id:
        text = args.trace_id.lower().rjust(32, "0")
        trace_id = bytes.fromhex(text)
    else:
        trace_id = int(time.time_ns()).to_bytes(8, "big") + (time.time_ns() ^ 0x5EED).to_bytes(8, "big")
    # Whole microseconds: Jaeger's storage formats keep microseconds.
    base_nanos = (time.time_ns() // 1_000) * 1_000
    spans = build_spans(trace_id, args.service, max(1, args.spans), base_nanos)
    headers = []
    for item in args.header:
        name, _, value = item.partition("=")
        headers.append((name, value.encode("utf-8")))

    producer = Producer(
        {
            "bootstrap.servers": args.brokers,
            "client.id": "send-kafka-jaeger-py",
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": args.partitioner,
            "message.timeout.ms": int(args.timeout * 1000),
        }
    )
    reports = {}
    encode = span_proto if args.encoding == "protobuf" else span_json
    key_text = trace_id_string(trace_id)
    results = []
    for span in spans:
        span_key = span["span_id"].hex()
        producer.produce(
            args.topic,
            key=key_text.encode("ascii"),
            value=encode(span),
            headers=headers or None,
            on_delivery=lambda error, message, span_key=span_key: reports.__setitem__(span_key, (error, message)),
        )
        results.append({"span_id": span_key, "operation_name": span["operation_name"]})
    remaining = producer.flush(args.timeout)
    ok = remaining == 0
    for result in results:
        report = reports.get(result["span_id"])
        if report is None or report[0] is not None:
            ok = False
            result["error"] = "not delivered" if report is None else str(report[0])
            continue
        result["partition"] = report[1].partition()
        result["offset"] = report[1].offset()
    print(
        json.dumps(
            {
                "ok": ok,
                "topic": args.topic,
                "encoding": args.encoding,
                "key": key_text,
                "trace_id": key_text,
                "trace_id_32": trace_id.hex(),
                "service": args.service,
                "spans": results,
            }
        )
    )
    if not ok:
        print("some messages were not delivered to %s within %ss" % (args.brokers, args.timeout), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
