"""The benchmark's lean HTTP/1.1 client against a tiny local server: lengths, chunks, reuse."""

from __future__ import annotations

import asyncio

from bench._load import KeepAlive


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    seen = 0
    while head := await reader.readuntil(b"\r\n\r\n"):
        seen += 1
        path = head.split(b" ")[1]
        if path == b"/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        else:
            body = f"request {seen} {path.decode()}".encode()
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        if reader.at_eof():
            break


async def test_keep_alive_reads_both_body_framings_on_one_connection() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with KeepAlive(f"http://127.0.0.1:{port}") as http:
            assert await http.request("POST", "/a?wait=1", {"X": "1"}) == (
                201,
                b"request 1 /a?wait=1",
            )
            assert await http.request("GET", "/chunked", {}) == (200, b"hello world")
            # Same connection: the server counts the third request on it.
            assert await http.request("GET", "/b", {}) == (201, b"request 3 /b")
    finally:
        server.close()
        await server.wait_closed()
