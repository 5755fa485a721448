"""Runs mtprotoproxy (the PyPI package, 1.0.6) for the interop tests, on loopback only.

Usage: python mtprotoproxy.py SCRIPT CONFIG DC_HOST DC_PORT

SCRIPT is the `mtprotoproxy` file pip installed, CONFIG its config file. The server is
loaded as a module and adjusted before it starts, because its Telegram addresses are
constants rather than settings:

- every datacenter is DC_HOST:DC_PORT (the lab's fake datacenter);
- the start-up lookup of the machine's public address (ident.me, icanhazip.com) is skipped;
- any connection to an address other than 127.0.0.1, and any URL fetch, fails at once, so
  nothing can leave the machine whatever the server tries;
- asyncio.start_server drops the `loop` argument Python 3.10 removed, and the port the OS
  chose for `PORT = 0` is printed as "listening on PORT";
- asyncio.streams.IncompleteReadError, which its relay names and Python 3.11 moved, is
  put back.
"""

import asyncio
import importlib.machinery
import importlib.util
import sys
import urllib.request


def load(script):
    loader = importlib.machinery.SourceFileLoader("mtprotoproxy_under_test", script)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main():
    script, config, dc_host, dc_port = sys.argv[1:5]
    if dc_host != "127.0.0.1":
        sys.exit("the datacenter must be on 127.0.0.1")

    def no_fetch(*args, **kwargs):
        raise OSError("interop: no URL fetches")

    urllib.request.urlopen = no_fetch
    open_connection = asyncio.open_connection

    async def loopback_only(host=None, port=None, *args, **kwargs):
        if host != "127.0.0.1":
            raise ConnectionRefusedError("interop: only 127.0.0.1, not %s" % host)
        return await open_connection(host, port, *args, **kwargs)

    asyncio.open_connection = loopback_only
    start_server = asyncio.start_server

    async def start_and_report(*args, loop=None, **kwargs):
        server = await start_server(*args, **kwargs)
        print("listening on", server.sockets[0].getsockname()[1], flush=True)
        return server

    asyncio.start_server = start_and_report
    asyncio.streams.IncompleteReadError = asyncio.IncompleteReadError

    mtprotoproxy = load(script)
    mtprotoproxy.TG_DATACENTERS_V4 = [dc_host] * 5
    mtprotoproxy.TG_DATACENTERS_V6 = []
    mtprotoproxy.TG_DATACENTER_PORT = int(dc_port)
    sys.argv = [script, config]
    mtprotoproxy.init_config()
    mtprotoproxy.main()


if __name__ == "__main__":
    main()
