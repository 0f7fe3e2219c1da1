"""How full each broker's log directories are, as a client asks it: DescribeLogDirs v4 (KIP-827,
Kafka 3.3+) answers each directory's total and usable bytes. aiokafka does not ship the request,
so it is declared here; no topic is named, so the answer lists directories, not partitions."""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)


class DescribeLogDirsResponse_v4(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 35
    API_VERSION = 4
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        (
            "results",
            CompactArray(
                ("error_code", Int16),
                ("log_dir", CompactString("utf-8")),
                (
                    "topics",
                    CompactArray(
                        ("name", CompactString("utf-8")),
                        (
                            "partitions",
                            CompactArray(
                                ("partition_index", Int32),
                                ("partition_size", Int64),
                                ("offset_lag", Int64),
                                ("is_future_key", Boolean),
                                ("tags", TaggedFields),
                            ),
                        ),
                        ("tags", TaggedFields),
                    ),
                ),
                ("total_bytes", Int64),
                ("usable_bytes", Int64),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeLogDirsRequest_v4(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 35
    API_VERSION = 4
    RESPONSE_TYPE = DescribeLogDirsResponse_v4
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic", CompactString("utf-8")),
                ("partitions", CompactArray(Int32)),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


DescribeLogDirsRequestStruct: TypeAlias = DescribeLogDirsRequest_v4


class DescribeLogDirsRequest(Request[DescribeLogDirsRequestStruct]):  # type: ignore[misc]
    """Every log directory of the broker it is sent to, with no partitions (an empty topic list;
    null would list every partition)."""

    API_KEY = 35

    def build(
        self, request_struct_class: type[DescribeLogDirsRequestStruct]
    ) -> DescribeLogDirsRequestStruct:
        return request_struct_class([], {})


class LogDir(NamedTuple):
    total: int
    usable: int


def log_dirs(response: dict[str, Any]) -> dict[str, LogDir]:
    """Directory -> its bytes, from a DescribeLogDirs v4 answer; a directory in error (offline)
    or whose broker does not know its size (-1) is left out."""
    return {
        result["log_dir"]: LogDir(result["total_bytes"], result["usable_bytes"])
        for result in response["results"]
        if result["error_code"] == 0 and result["total_bytes"] >= 0
    }
