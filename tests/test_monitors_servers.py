"""Loopback servers that misbehave on purpose, for the monitor tests: a threaded HTTP server with one
path per fault, and MJPEG streams (live, or freezing after a few frames)."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BITS = 10


def coded_frame(seq: int, size=(240, 320)) -> bytes:
    """A JPEG whose top row of 10 blocks spells `seq` in binary (survives JPEG), plus a little noise
    so consecutive frames never have equal bytes."""
    h, w = size
    img = np.full((h, w, 3), 90, np.uint8)
    bw = w // BITS
    for i in range(BITS):
        if (seq >> i) & 1:
            img[: h // 3, i * bw:(i + 1) * bw] = 255
        else:
            img[: h // 3, i * bw:(i + 1) * bw] = 0
    img[h // 2:, :] = np.random.default_rng(seq).integers(60, 120, (h - h // 2, w, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def read_code(image: np.ndarray) -> int:
    h, w = image.shape[:2]
    bw = w // BITS
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return sum(1 << i for i in range(BITS) if gray[: h // 3, i * bw:(i + 1) * bw].mean() > 128)


class FaultServer:
    """`with FaultServer() as srv: srv.url + "/good/cam1.jpg"`. `srv.hits[path]` counts requests;
    `srv.requests` keeps (time, path, user-agent)."""

    def __init__(self, big_jpeg: bytes | None = None, mjpeg_fps: float = 25.0):
        self.hits: dict[str, int] = {}
        self.requests: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.seq = 0
        self.stream_seq = 0
        self.mjpeg_fps = mjpeg_fps
        self.big_jpeg = big_jpeg or cv2.imencode(".jpg", np.full((1200, 2000, 3), 120, np.uint8))[1].tobytes()
        small = coded_frame(1)
        sof = small.find(b"\xff\xc0")
        bomb = bytearray(small)
        bomb[sof + 5:sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")  # 3.6 GP claimed
        self.bomb_jpeg = bytes(bomb)
        self.truncated_jpeg = small[: len(small) // 2]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code: int, body: bytes, ctype: str = "image/jpeg", extra: dict | None = None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                with server.lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    server.requests.append((time.time(), path, self.headers.get("User-Agent", "")))
                    server.seq += 1
                    seq = server.seq
                try:
                    server.route(self, path, seq)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, h, path: str, seq: int) -> None:
        if path.startswith("/good/"):
            if path.endswith("/auth.jpg"):
                if h.headers.get("Authorization") not in ("Basic dXNlcjpzM2NyZXQ=", "Bearer t0ken"):
                    return h._send(401, b"no", "text/plain", {"WWW-Authenticate": "Basic"})
            if path.startswith("/good/referer") and h.headers.get("Referer") != "http://giaothong.hochiminhcity.gov.vn/":
                return h._send(403, b"missing referer", "text/plain")
            return h._send(200, coded_frame(seq))
        if path == "/slow.jpg":
            time.sleep(5)
            return h._send(200, coded_frame(seq))
        if path == "/e500.jpg":
            return h._send(500, b"oops", "text/plain")
        if path == "/e404.jpg":
            return h._send(404, b"nope", "text/plain")
        if path == "/loop":
            return h._send(302, b"", "text/plain", {"Location": "/loop"})
        if path == "/html":
            return h._send(200, b"<html>login</html>", "text/html")
        if path == "/truncated.jpg":
            return h._send(200, self.truncated_jpeg)
        if path == "/garbage.jpg":
            return h._send(200, np.random.default_rng(seq).integers(0, 256, 5000, dtype=np.uint8).tobytes())
        if path == "/bomb.jpg":
            return h._send(200, self.bomb_jpeg)
        if path == "/big.jpg":
            return h._send(200, self.big_jpeg)
        if path == "/static.jpg":
            return h._send(200, coded_frame(7))
        if path == "/trickle.jpg":
            body = coded_frame(seq)
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            for i in range(0, len(body), 50):  # 50 bytes every 0.1 s: each chunk is on time, the whole is not
                h.wfile.write(body[i:i + 50])
                h.wfile.flush()
                time.sleep(0.1)
            return
        if path in ("/mjpeg", "/mjpeg-freeze"):
            h.send_response(200)
            h.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            h.send_header("Connection", "close")
            h.end_headers()
            n = 0
            while True:
                if path == "/mjpeg-freeze" and n >= 3:
                    time.sleep(30)  # the connection stays open, nothing more arrives
                    return
                with self.lock:
                    self.stream_seq += 1
                    s = self.stream_seq
                frame = coded_frame(s)
                h.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                              + str(len(frame)).encode() + b"\r\n\r\n" + frame + b"\r\n")
                h.wfile.flush()
                n += 1
                time.sleep(1 / self.mjpeg_fps)
        return h._send(404, b"unknown path", "text/plain")

    def __enter__(self) -> "FaultServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
