"""The listening socket aptrank serve binds."""

from __future__ import annotations

import asyncio
import socket

from aptrank.serve.server import bind


def test_accepted_connections_have_nagle_off():
    """asyncio sets TCP_NODELAY only where the socket's proto says TCP; without it each
    response after the first on a kept-alive connection waits for the client's delayed ACK."""
    seen: list[int] = []

    async def main() -> None:
        sock = bind("127.0.0.1", 0)
        accepted = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                raw = transport.get_extra_info("socket")
                seen.append(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            await asyncio.wait_for(accepted.wait(), 10)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_bind_to_an_ephemeral_port_reports_it():
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0 and sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
