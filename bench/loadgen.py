"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio (uvloop), pre-built
request bytes, one request in flight per connection.

A general client (httpx, aiohttp) spends more CPU per request than the gateway it measures on
a 2-core machine; this one writes the bytes it was given and reads the answer by its
Content-Length, so that nearly all of the machine's time goes to the system under test.
Each answer is timed from the first byte written to the last byte read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import uvloop


@dataclass(slots=True)
class Answer:
    index: int  # of the request in the list given
    status: int
    body: bytes
    sent_at: float  # time.time() when the request was written
    seconds: float  # until the whole answer was read

    def json(self) -> Any:
        return json.loads(self.body)


def post_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of one POST with a JSON body."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get_request(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return status, b"".join(p[:-2] for p in parts)


async def _connection(host: str, port: int, queue: asyncio.Queue[tuple[int, bytes]], out: list[Answer]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                index, request = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            sent_at, start = time.time(), time.perf_counter()
            writer.write(request)
            status, body = await _read_answer(reader)
            out.append(Answer(index, status, body, sent_at, time.perf_counter() - start))
    finally:
        writer.close()


async def _run(host: str, port: int, requests: Sequence[bytes], connections: int) -> list[Answer]:
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    out: list[Answer] = []
    await asyncio.gather(*(_connection(host, port, queue, out) for _ in range(min(connections, len(requests)))))
    return sorted(out, key=lambda a: a.index)


def send_all(host: str, port: int, requests: Sequence[bytes], connections: int) -> tuple[list[Answer], float]:
    """Sends every request over ``connections`` keep-alive connections; returns the answers in
    request order and the wall time from the first request to the last answer."""
    start = time.perf_counter()
    answers = uvloop.run(_run(host, port, requests, connections))
    return answers, time.perf_counter() - start


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0-1) by the nearest-rank method; 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]
