"""A real HTTP server on loopback for tests: `with LiveServer(app) as srv: httpx.get(srv.url + "/x")`."""
from watch1022.serve import ServerThread as LiveServer, free_port

__all__ = ["LiveServer", "free_port"]
