#!/usr/bin/env python3
"""An OTLP receiver (traces, metrics and logs) for Skiff's integration tests.

Listens on 127.0.0.1 for OTLP/HTTP (binary protobuf and JSON, optionally
gzip-compressed) and OTLP/gRPC exports of all three signals, decodes each one
strictly with the OpenTelemetry project's generated protobuf classes (PyPI
`opentelemetry-proto`, with `protobuf` and `grpcio`), and appends one JSON line
per export request to --out. `skiff_test_support::otlp_receiver` starts it and
reads that file.

The signal is the OTLP/HTTP request path's (ending in /v1/traces, /v1/metrics
or /v1/logs; any other path is answered 404 and recorded with an "error"
naming it), or the gRPC service's (TraceService, MetricsService, LogsService).

Strict means: a protobuf body with bytes that are not an OTLP field (unknown
fields), an OTLP/JSON body with a field name that is not the lowerCamelCase
JSON name, an enum given as a string, a trace/span id that is not hex, or any
trace/span id of the wrong length is refused (400 / INVALID_ARGUMENT) and the
reason recorded as the line's "error". So are metrics a collector would find
malformed (no name, no data, an unspecified aggregation temporality, a point
without a timestamp or value, histogram buckets that do not match their bounds
or count) and log records with neither a timestamp nor an observed timestamp.

Prints `ready` on stdout once both servers listen. Exits when its stdin
closes (so it never outlives the test process), or on SIGTERM/SIGKILL.
Exit status 98: a port was taken.
"""

import argparse
import base64
import errno
import gzip
import http.server
import json
import math
import os
import re
import sys
import threading
import traceback
import urllib.parse
from concurrent import futures

try:
    import grpc
    from google.protobuf import json_format
    from google.protobuf.descriptor import FieldDescriptor
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.metrics.v1 import metrics_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2
except ImportError as err:
    sys.stderr.write(
        f"otlp_receiver.py: cannot import the OpenTelemetry protobuf classes ({err}); "
        "it needs the PyPI packages opentelemetry-proto, protobuf and grpcio on PYTHONPATH "
        f"(PYTHONPATH={os.environ.get('PYTHONPATH', '')!r})\n"
    )
    sys.exit(2)

# OTLP/JSON encodes these `bytes` fields (of Span, Span.Link, LogRecord and
# Exemplar) as hex rather than base64 (the OTLP spec's "JSON Protobuf
# Encoding"); every other `bytes` field stays base64.
HEX_ID_FIELDS = {"trace_id", "span_id", "parent_span_id"}
HEX = re.compile(r"\A(?:[0-9a-fA-F]{2})*\Z")


class DecodeError(Exception):
    """The body is not a valid OTLP export."""


# ---------------------------------------------------------------- decoding


def decode_protobuf(signal, body):
    name = signal.request.DESCRIPTOR.name
    try:
        req = signal.request.FromString(body)
    except Exception as err:  # google.protobuf.message.DecodeError
        raise DecodeError(f"not an {name} (protobuf): {err}") from None
    size = req.ByteSize()
    req.DiscardUnknownFields()
    if req.ByteSize() != size:
        raise DecodeError(
            f"protobuf body has fields that are not in the OTLP schema of {name} "
            f"(unknown fields, {size - req.ByteSize()} bytes); wrong field numbers or wire types?"
        )
    return req


def _reject_duplicate_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DecodeError(f"duplicate JSON key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name):
    raise DecodeError(f"{name} is not JSON")


def otlp_json_to_proto_json(value, descriptor, path):
    """Checks OTLP/JSON's own rules on `value` (a message of type
    `descriptor`) and returns it in the protobuf JSON mapping that
    json_format.ParseDict reads: lowerCamelCase names only, enums as integers,
    trace/span ids as hex (turned into base64)."""
    if not isinstance(value, dict):
        raise DecodeError(f"{path or 'the body'}: expected a JSON object, got {json.dumps(value)[:80]}")
    by_json_name = {f.json_name: f for f in descriptor.fields}
    by_proto_name = {f.name: f for f in descriptor.fields}
    out = {}
    for key, item in value.items():
        field = by_json_name.get(key)
        where = f"{path}.{key}" if path else key
        if field is None:
            if key in by_proto_name:
                raise DecodeError(
                    f"{where}: OTLP/JSON field names are lowerCamelCase; "
                    f"`{key}` must be `{by_proto_name[key].json_name}`"
                )
            raise DecodeError(f"{where}: no field `{key}` in {descriptor.full_name}")
        if item is None:
            out[key] = None
            continue
        if is_repeated(field):
            if not isinstance(item, list):
                raise DecodeError(f"{where}: expected a JSON array")
            out[key] = [convert_field(field, x, f"{where}[{i}]") for i, x in enumerate(item)]
        else:
            out[key] = convert_field(field, item, where)
    return out


def is_repeated(field):
    # `label` is gone from protobuf 7; `is_repeated` is newer than some 5.x.
    if hasattr(field, "is_repeated"):
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def convert_field(field, item, where):
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return otlp_json_to_proto_json(item, field.message_type, where)
    if field.type == FieldDescriptor.TYPE_ENUM:
        if isinstance(item, bool) or not isinstance(item, int):
            raise DecodeError(
                f"{where}: OTLP/JSON enums are integers, got {json.dumps(item)} "
                f"({field.enum_type.full_name})"
            )
        return item
    if field.type == FieldDescriptor.TYPE_BYTES and field.name in HEX_ID_FIELDS:
        if not isinstance(item, str) or not HEX.match(item):
            raise DecodeError(
                f"{where}: OTLP/JSON trace and span ids are hex strings, got {json.dumps(item)}"
            )
        return base64.b64encode(bytes.fromhex(item)).decode("ascii")
    return item


def decode_json(signal, body):
    name = signal.request.DESCRIPTOR.name
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DecodeError(f"JSON body is not UTF-8: {err}") from None
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as err:
        raise DecodeError(f"not JSON: {err}") from None
    converted = otlp_json_to_proto_json(doc, signal.request.DESCRIPTOR, "")
    req = signal.request()
    try:
        json_format.ParseDict(converted, req, ignore_unknown_fields=False)
    except json_format.ParseError as err:
        raise DecodeError(f"not an {name} (OTLP/JSON): {err}") from None
    return req


# ---------------------------------------------------------------- checking


def check_id(what, value, size, may_be_empty=False, may_be_zero=False):
    """`value` is `size` bytes (or empty, if it may be), and not all zeros
    (unless it may be)."""
    if may_be_empty and len(value) == 0:
        return
    if len(value) != size:
        raise DecodeError(f"{what} is {len(value)} bytes ({value.hex()!r}), not {size}")
    if not may_be_zero and value == bytes(size):
        raise DecodeError(f"{what} is all zeros (invalid)")


def check_traces(req):
    """Trace ids are 16 bytes, span ids 8, neither all zero; a parent span id
    is 8 bytes or empty (a root span)."""
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                name = f"span {span.name!r}"
                check_id(f"{name}: trace_id", span.trace_id, 16)
                check_id(f"{name}: span_id", span.span_id, 8)
                check_id(f"{name}: parent_span_id", span.parent_span_id, 8, may_be_empty=True)
                for link in span.links:
                    check_id(f"{name}: link trace_id", link.trace_id, 16)
                    check_id(f"{name}: link span_id", link.span_id, 8)


def check_logs(req):
    """A log record's trace id is empty or 16 bytes, its span id empty or 8
    (all zeros is allowed: receivers read it as "no trace"), and it has a
    timestamp or an observed timestamp."""
    for a, rl in enumerate(req.resource_logs):
        for b, sl in enumerate(rl.scope_logs):
            for c, lr in enumerate(sl.log_records):
                where = f"resource_logs[{a}].scope_logs[{b}].log_records[{c}]"
                check_id(f"{where}: trace_id", lr.trace_id, 16, may_be_empty=True, may_be_zero=True)
                check_id(f"{where}: span_id", lr.span_id, 8, may_be_empty=True, may_be_zero=True)
                if lr.time_unix_nano == 0 and lr.observed_time_unix_nano == 0:
                    raise DecodeError(
                        f"{where}: neither time_unix_nano nor observed_time_unix_nano is set"
                    )


# The `data` oneof's members whose messages have an aggregation temporality.
AGGREGATED = {"sum", "histogram", "exponential_histogram"}


def check_metrics(req):
    """What a collector would refuse or drop as malformed: a metric without a
    name or data, an unspecified aggregation temporality, a point without a
    timestamp (or, for gauges and sums, without a value), histogram buckets
    that do not fit their bounds or count, and exemplar ids of the wrong
    length."""
    for a, rm in enumerate(req.resource_metrics):
        for b, sm in enumerate(rm.scope_metrics):
            for c, metric in enumerate(sm.metrics):
                where = f"metric {metric.name!r} (resource_metrics[{a}].scope_metrics[{b}].metrics[{c}])"
                if not metric.name:
                    raise DecodeError(f"{where}: it has no name")
                kind = metric.WhichOneof("data")
                if kind is None:
                    raise DecodeError(
                        f"{where}: no data (none of gauge, sum, histogram, exponential_histogram, summary)"
                    )
                data = getattr(metric, kind)
                if kind in AGGREGATED and data.aggregation_temporality == 0:
                    raise DecodeError(f"{where}: {kind} with aggregation_temporality UNSPECIFIED")
                for i, point in enumerate(data.data_points):
                    here = f"{where}: data_points[{i}]"
                    if point.time_unix_nano == 0:
                        raise DecodeError(f"{here}: time_unix_nano is 0")
                    if kind in ("gauge", "sum") and point.WhichOneof("value") is None:
                        raise DecodeError(f"{here}: no value (neither as_int nor as_double)")
                    if kind == "histogram":
                        check_histogram_point(here, point)
                    if kind == "exponential_histogram":
                        total = point.zero_count + sum(point.positive.bucket_counts) + sum(point.negative.bucket_counts)
                        if total != point.count:
                            raise DecodeError(
                                f"{here}: zero_count and bucket counts add up to {total}, but count is {point.count}"
                            )
                    for j, exemplar in enumerate(getattr(point, "exemplars", ())):
                        there = f"{here}: exemplars[{j}]"
                        check_id(f"{there}: trace_id", exemplar.trace_id, 16, may_be_empty=True)
                        check_id(f"{there}: span_id", exemplar.span_id, 8, may_be_empty=True)


def check_histogram_point(here, point):
    counts, bounds = list(point.bucket_counts), list(point.explicit_bounds)
    if not counts and not bounds:
        return
    if len(counts) != len(bounds) + 1:
        raise DecodeError(
            f"{here}: {len(counts)} bucket_counts for {len(bounds)} explicit_bounds "
            f"(there must be one more count than bounds)"
        )
    for lower, upper in zip(bounds, bounds[1:]):
        if not lower < upper:
            raise DecodeError(f"{here}: explicit_bounds are not strictly increasing: {bounds}")
    if sum(counts) != point.count:
        raise DecodeError(f"{here}: bucket_counts {counts} add up to {sum(counts)}, but count is {point.count}")


# ---------------------------------------------------------------- flattening


def number(d):
    """A double as JSON allows it: NaN and the infinities as strings."""
    if math.isnan(d):
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    return d


def any_value(v):
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return v.string_value
    if which == "bool_value":
        return v.bool_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return number(v.double_value)
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return v.bytes_value.hex()
    raise DecodeError(f"unknown AnyValue kind {which}")


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def enum_name(enum, number):
    try:
        return enum.Name(number)
    except ValueError:
        return str(number)


def flatten_spans(req):
    spans = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(
                    {
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(),
                        "trace_state": s.trace_state,
                        "name": s.name,
                        "kind": enum_name(trace_pb2.Span.SpanKind, s.kind),
                        "start_time_unix_nano": s.start_time_unix_nano,
                        "end_time_unix_nano": s.end_time_unix_nano,
                        "attributes": attributes(s.attributes),
                        "status_code": enum_name(trace_pb2.Status.StatusCode, s.status.code),
                        "status_message": s.status.message,
                        "events": [
                            {
                                "name": e.name,
                                "time_unix_nano": e.time_unix_nano,
                                "attributes": attributes(e.attributes),
                            }
                            for e in s.events
                        ],
                        "links": [
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "trace_state": link.trace_state,
                                "attributes": attributes(link.attributes),
                                "flags": link.flags,
                            }
                            for link in s.links
                        ],
                        "resource": resource,
                        "scope_name": ss.scope.name,
                        "scope_version": ss.scope.version,
                        "flags": s.flags,
                    }
                )
    return spans


def flatten_logs(req):
    logs = []
    for rl in req.resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                logs.append(
                    {
                        "time_unix_nano": lr.time_unix_nano,
                        "observed_time_unix_nano": lr.observed_time_unix_nano,
                        "severity_number": lr.severity_number,
                        "severity_text": lr.severity_text,
                        "body": any_value(lr.body) if lr.HasField("body") else None,
                        "attributes": attributes(lr.attributes),
                        "resource": resource,
                        "scope_name": sl.scope.name,
                        "scope_version": sl.scope.version,
                        "trace_id": lr.trace_id.hex(),
                        "span_id": lr.span_id.hex(),
                        "flags": lr.flags,
                        # Newer than some opentelemetry-proto versions.
                        "event_name": getattr(lr, "event_name", ""),
                    }
                )
    return logs


def optional_number(message, field):
    return number(getattr(message, field)) if message.HasField(field) else None


def flatten_point(kind, p):
    point = {
        "attributes": attributes(p.attributes),
        "start_time_unix_nano": p.start_time_unix_nano,
        "time_unix_nano": p.time_unix_nano,
        "value": None,
        "count": 0,
        "sum": None,
        "bucket_counts": [],
        "explicit_bounds": [],
        "min": None,
        "max": None,
    }
    if kind in ("gauge", "sum"):
        which = p.WhichOneof("value")
        if which == "as_int":
            point["value"] = p.as_int
        elif which == "as_double":
            point["value"] = number(p.as_double)
    elif kind == "histogram":
        point.update(
            count=p.count,
            sum=optional_number(p, "sum"),
            bucket_counts=list(p.bucket_counts),
            explicit_bounds=[number(b) for b in p.explicit_bounds],
            min=optional_number(p, "min"),
            max=optional_number(p, "max"),
        )
    elif kind == "exponential_histogram":
        point.update(
            count=p.count,
            sum=optional_number(p, "sum"),
            min=optional_number(p, "min"),
            max=optional_number(p, "max"),
        )
    elif kind == "summary":
        point.update(count=p.count, sum=number(p.sum))
    return point


def flatten_metrics(req):
    metrics = []
    for rm in req.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                metrics.append(
                    {
                        "name": m.name,
                        "description": m.description,
                        "unit": m.unit,
                        "kind": kind,
                        "temporality": (
                            enum_name(metrics_pb2.AggregationTemporality, data.aggregation_temporality)
                            if kind in AGGREGATED
                            else ""
                        ),
                        "monotonic": kind == "sum" and data.is_monotonic,
                        "resource": resource,
                        "scope_name": sm.scope.name,
                        "scope_version": sm.scope.version,
                        "points": [flatten_point(kind, p) for p in data.data_points],
                    }
                )
    return metrics


# ---------------------------------------------------------------- signals


class Signal:
    """One of OTLP's signals: its messages, gRPC service and checks."""

    def __init__(self, name, module, service, request, response, check, flatten):
        self.name = name
        self.request = getattr(module, request)
        self.response = getattr(module, response)
        self.grpc_service = module.DESCRIPTOR.services_by_name[service].full_name
        self.grpc_path = f"/{self.grpc_service}/Export"
        self.http_suffix = f"/v1/{name}"
        self.check = check
        self.flatten = flatten


SIGNALS = {
    s.name: s
    for s in (
        Signal(
            "traces",
            trace_service_pb2,
            "TraceService",
            "ExportTraceServiceRequest",
            "ExportTraceServiceResponse",
            check_traces,
            flatten_spans,
        ),
        Signal(
            "metrics",
            metrics_service_pb2,
            "MetricsService",
            "ExportMetricsServiceRequest",
            "ExportMetricsServiceResponse",
            check_metrics,
            flatten_metrics,
        ),
        Signal(
            "logs",
            logs_service_pb2,
            "LogsService",
            "ExportLogsServiceRequest",
            "ExportLogsServiceResponse",
            check_logs,
            flatten_logs,
        ),
    )
}

# Each signal's list in a recorded line.
ITEMS = {"traces": "spans", "metrics": "metrics", "logs": "logs"}


def signal_of_path(path):
    """The signal whose OTLP/HTTP path `path` ends in, if any."""
    path = urllib.parse.urlsplit(path).path
    for signal in SIGNALS.values():
        if path.endswith(signal.http_suffix):
            return signal
    return None


# ---------------------------------------------------------------- recording


class State:
    def __init__(self, out, fail_first, fail_first_signal):
        self.lock = threading.Lock()
        self.out = open(out, "a", encoding="utf-8")
        self.to_reject = fail_first
        self.reject_signal = fail_first_signal

    def take_rejection(self, signal):
        """Whether this export is one of the first --fail-first N of
        --fail-first-signal."""
        with self.lock:
            if signal == self.reject_signal and self.to_reject > 0:
                self.to_reject -= 1
                return True
            return False

    def record(self, signal, rejected, error, items=(), **meta):
        line = dict(meta, signal=signal, rejected=rejected, error=error, spans=[], metrics=[], logs=[])
        if signal:
            line[ITEMS[signal]] = list(items)
        text = json.dumps(line, allow_nan=False, separators=(",", ":")) + "\n"
        with self.lock:
            self.out.write(text)
            self.out.flush()


def handle_export(state, signal, protocol, decode, body, **meta):
    """Decodes `body` as an export of `signal`, records it; returns
    (rejected, error, request)."""
    rejected = state.take_rejection(signal.name)
    error = None
    items = []
    req = None
    try:
        req = decode(signal, body)
        signal.check(req)
        items = signal.flatten(req)
    except DecodeError as err:
        error = str(err)
        req = None
    except Exception as err:  # a bug here must show up, not hang the test
        error = f"receiver error: {err!r}\n{traceback.format_exc()}"
        req = None
    state.record(signal.name, rejected, error, items, protocol=protocol, **meta)
    return rejected, error, req


# ---------------------------------------------------------------- HTTP


def status_body(content_type, code, message):
    """A google.rpc.Status (what OTLP/HTTP answers a failure with) in the
    request's encoding."""
    if content_type == "application/json":
        return json.dumps({"code": code, "message": message}).encode("utf-8")
    msg = message.encode("utf-8")

    def varint(n):
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)

    return b"\x08" + varint(code) + b"\x12" + varint(len(msg)) + msg


def make_http_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "skiff-otlp-receiver"

        def read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = bytearray()
                while True:
                    size_line = self.rfile.readline(65537)
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return bytes(body)
                    body += self.rfile.read(size)
                    self.rfile.readline(65537)  # CRLF after the chunk
            length = int(self.headers.get("Content-Length", "0"))
            return self.rfile.read(length)

        def reply(self, status, content_type, body):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.read_body()
            raw_type = self.headers.get("Content-Type", "")
            media_type = raw_type.split(";", 1)[0].strip().lower()
            encoding = self.headers.get("Content-Encoding", "")
            headers = {}
            for name, value in self.headers.items():
                name = name.lower()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            meta = dict(
                path=self.path,
                content_type=raw_type,
                content_encoding=encoding,
                headers=headers,
            )

            if media_type == "application/x-protobuf":
                protocol, decode = "http/protobuf", decode_protobuf
            elif media_type == "application/json":
                protocol, decode = "http/json", decode_json
            else:
                protocol, decode = "http/unknown", None
            reply_type = "application/json" if media_type == "application/json" else "application/x-protobuf"

            signal = signal_of_path(self.path)
            if signal is None:
                error = (
                    f"no OTLP signal at the path {self.path!r}: OTLP/HTTP paths end in "
                    + ", ".join(s.http_suffix for s in SIGNALS.values())
                )
                state.record("", False, error, protocol=protocol, **meta)
                self.reply(404, reply_type, status_body(reply_type, 5, error))
                return

            def decode_body(signal, data):
                if decode is None:
                    raise DecodeError(
                        f"unsupported Content-Type {raw_type!r} "
                        "(OTLP/HTTP is application/x-protobuf or application/json)"
                    )
                enc = encoding.strip().lower()
                if enc == "gzip":
                    try:
                        data = gzip.decompress(data)
                    except (OSError, EOFError, ValueError) as err:
                        raise DecodeError(f"Content-Encoding: gzip, but the body is not gzip: {err}") from None
                elif enc not in ("", "identity"):
                    raise DecodeError(f"unsupported Content-Encoding {encoding!r}")
                return decode(signal, data)

            rejected, error, _ = handle_export(state, signal, protocol, decode_body, body, **meta)
            if rejected:
                self.reply(503, reply_type, status_body(reply_type, 14, "rejected (--fail-first)"))
            elif error is not None:
                status = 415 if decode is None else 400
                self.reply(status, reply_type, status_body(reply_type, 3, error))
            elif reply_type == "application/json":
                self.reply(200, reply_type, json_format.MessageToJson(signal.response()).encode("utf-8"))
            else:
                self.reply(200, reply_type, signal.response().SerializeToString())

        def log_message(self, format, *args):
            sys.stderr.write("http: %s\n" % (format % args))

    return Handler


# ---------------------------------------------------------------- gRPC


class ExportService:
    """One signal's Export method, fed the raw request bytes so that a
    request that does not decode is recorded too (grpcio's own deserializer
    would refuse it before Export ran)."""

    def __init__(self, state, signal):
        self.state = state
        self.signal = signal

    def Export(self, body, context):
        headers = {}
        for key, value in context.invocation_metadata():
            if isinstance(value, bytes):
                value = base64.b64encode(value).decode("ascii")
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        rejected, error, _ = handle_export(
            self.state,
            self.signal,
            "grpc",
            decode_protobuf,
            body,
            path=self.signal.grpc_path,
            content_type="application/grpc",
            content_encoding=headers.get("grpc-encoding", ""),
            headers=headers,
        )
        if rejected:
            context.abort(grpc.StatusCode.UNAVAILABLE, "rejected (--fail-first)")
        if error is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, error)
        return self.signal.response()


def start_grpc(state, port):
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        # gRPC sets SO_REUSEPORT by default: a second server could then share
        # the port silently instead of failing to bind.
        options=[("grpc.so_reuseport", 0)],
    )
    handlers = []
    for signal in SIGNALS.values():
        handler = grpc.unary_unary_rpc_method_handler(
            ExportService(state, signal).Export,
            request_deserializer=bytes,
            response_serializer=signal.response.SerializeToString,
        )
        handlers.append(grpc.method_handlers_generic_handler(signal.grpc_service, {"Export": handler}))
    server.add_generic_rpc_handlers(tuple(handlers))
    try:
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
    except RuntimeError as err:
        sys.stderr.write(f"otlp_receiver.py: gRPC could not bind 127.0.0.1:{port}: {err}\n")
        sys.exit(98)
    if bound != port:
        sys.stderr.write(f"otlp_receiver.py: gRPC could not bind 127.0.0.1:{port}\n")
        sys.exit(98)
    server.start()
    return server


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--out", required=True, help="one JSON line per export request is appended here")
    parser.add_argument(
        "--fail-first",
        type=int,
        default=0,
        help="answer the first N exports of --fail-first-signal 503 / UNAVAILABLE",
    )
    parser.add_argument(
        "--fail-first-signal",
        choices=sorted(SIGNALS),
        default="traces",
        help="the signal --fail-first counts and rejects (default: traces)",
    )
    args = parser.parse_args()

    state = State(args.out, args.fail_first, args.fail_first_signal)

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    try:
        httpd = Server(("127.0.0.1", args.http_port), make_http_handler(state))
    except OSError as err:
        sys.stderr.write(f"otlp_receiver.py: HTTP could not bind 127.0.0.1:{args.http_port}: {err}\n")
        sys.exit(98 if err.errno == errno.EADDRINUSE else 1)
    grpc_server = start_grpc(state, args.grpc_port)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    sys.stdout.write("ready\n")
    sys.stdout.flush()

    # Until stdin closes: the test dropped the receiver, or its process died.
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        grpc_server.stop(0)
        os._exit(0)


if __name__ == "__main__":
    main()
