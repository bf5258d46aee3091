#!/usr/bin/env python3
"""A registry that misbehaves on purpose, for test_store_oci.sh (loopback only).

Repositories under /v2/hostile/ answer what no honest registry does; /v2/auth/ok
needs a bearer token from /token (a WWW-Authenticate challenge first). Prints
"port N" once it listens on 127.0.0.1.
"""
import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG = b'{"model_format":"gguf"}'
LAYER = b"hello, registry"
TOKEN = "tok-" + "x" * 40


def dg(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def manifest(layer_digest=None, layer_size=None):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": dg(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": "application/vnd.ollama.image.model",
                    "digest": layer_digest or dg(LAYER),
                    "size": len(LAYER) if layer_size is None else layer_size}],
    }).encode()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=(), length=None):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        p = self.path
        if p.startswith("/token"):
            return self.send(200, json.dumps({"token": TOKEN}).encode())
        if p == "/v2/":
            return self.send(200, b"{}")
        if p.startswith("/v2/auth/"):
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                port = self.server.server_address[1]
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [(
                    "WWW-Authenticate",
                    'Bearer realm="http://127.0.0.1:%d/token",service="fake",'
                    'scope="repository:auth/ok:pull"' % port)])
            p = p.replace("/v2/auth/ok/", "/v2/good/ok/")
        if p.endswith("/blobs/" + dg(CONFIG)):
            return self.send(200, CONFIG)
        if p.endswith("/blobs/" + dg(LAYER)):
            if p.startswith("/v2/hostile/hugelen/"):
                # says a terabyte is coming, sends a little and closes
                self.send_response(200)
                self.send_header("Content-Length", str(10**12))
                self.end_headers()
                self.wfile.write(LAYER)
                self.close_connection = True
                return
            if p.startswith("/v2/hostile/morebytes/"):
                # no length, more bytes than the manifest says, then close
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(LAYER * 1000)
                self.close_connection = True
                return
            if p.startswith("/v2/good/norange/") and self.headers.get("Range"):
                return self.send(200, LAYER)  # Range ignored: the whole blob
            if p.startswith("/v2/hostile/corrupt/"):
                return self.send(200, b"jello, registry")
            rg = self.headers.get("Range", "")
            if rg.startswith("bytes=") and rg.endswith("-") and rg[6:-1].isdigit():
                a = int(rg[6:-1])
                if a >= len(LAYER):
                    return self.send(416, b"", [("Content-Range", "bytes */%d" % len(LAYER))])
                return self.send(206, LAYER[a:], [("Content-Range", "bytes %d-%d/%d" % (
                    a, len(LAYER) - 1, len(LAYER)))])
            return self.send(200, LAYER)
        if "/manifests/" in p:
            repo = p[len("/v2/"):p.index("/manifests/")]
            if repo == "hostile/bigmanifest":
                return self.send(200, b" " * (2 << 20))
            if repo == "hostile/baddigest":
                return self.send(200, manifest("sha256:../../../../etc/passwd"))
            if repo == "hostile/hugesize":
                return self.send(200, manifest(layer_size=10**15))
            if repo == "hostile/dcd":
                return self.send(200, manifest(), [("Docker-Content-Digest", dg(b"other"))])
            if repo == "hostile/notjson":
                return self.send(200, b"<html>not a manifest</html>")
            if repo in ("good/ok", "good/norange", "hostile/hugelen", "hostile/morebytes", "hostile/corrupt"):
                m = manifest()
                return self.send(200, m, [("Docker-Content-Digest", dg(m))])
        return self.send(404, b'{"errors":[{"code":"NOT_FOUND"}]}')


srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), H)
print("port", srv.server_address[1], flush=True)
srv.serve_forever()
