"""deploy/nginx: the rendered template passes ``nginx -t`` and behaves as intended when it really runs.

The template is rendered the way both deployments render it (the two ``${CARGWIN_*}`` placeholders), then
moved into a temporary prefix: listen ports become free loopback ports, the Let's Encrypt paths point at a
self-signed certificate made here, and the site, uploads and ACME folders at temporary ones. A small HTTP
server stands in for gunicorn and echoes what it received.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy.conftest import DEPLOY_DIR, MAX_UPLOAD_SIZE, free_port

TEMPLATE = DEPLOY_DIR / "nginx" / "cargwin.conf"
SNIPPETS = DEPLOY_DIR / "nginx" / "snippets"
DOMAIN = "cargwin.test"

MIME_TYPES = """
types {
    text/html html;
    text/css css;
    application/javascript js;
    application/json json;
    image/jpeg jpg jpeg;
    image/png png;
    image/svg+xml svg;
}
"""


def render(upstream: str) -> str:
    """envsubst with exactly the two variables both deployments define."""
    text = TEMPLATE.read_text().replace("${CARGWIN_DOMAIN}", DOMAIN).replace("${CARGWIN_UPSTREAM}", upstream)
    return text


def make_certificate(directory: Path) -> Path:
    """A self-signed certificate for DOMAIN, laid out like /etc/letsencrypt/live/<domain>/."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True)
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return directory / "fullchain.pem"


@dataclass
class Site:
    prefix: Path
    conf: Path
    http_port: int
    https_port: int
    status_port: int
    cafile: Path
    root: Path


def build_prefix(base: Path, upstream: str, *, debian_http_defaults: bool = False) -> Site:
    """Write nginx.conf + the rendered site into ``base``; nothing outside it is used."""
    http_port, https_port, status_port = free_port(), free_port(), free_port()
    certs = base / "letsencrypt" / "live" / DOMAIN
    cafile = make_certificate(certs)
    root = base / "var"
    text = render(upstream)
    text = text.replace(f"/etc/letsencrypt/live/{DOMAIN}/", f"{certs}/")
    text = text.replace("/var/www/cargwin", str(root / "site"))
    text = text.replace("/var/www/letsencrypt", str(root / "acme"))
    text = text.replace("/var/lib/cargwin", str(root / "state"))
    text = text.replace("/var/log/nginx/access.log", str(base / "access.log"))
    text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", text)
    text = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", text)
    text = text.replace("listen 127.0.0.1:8081", f"listen 127.0.0.1:{status_port}")
    assert "${" not in text, "only ${CARGWIN_DOMAIN} and ${CARGWIN_UPSTREAM} may be templated"
    (base / "cargwin.conf").write_text(text)
    shutil.copytree(SNIPPETS, base / "snippets" / "cargwin")
    # Debian's stock nginx.conf sets these at http level; the site file must not clash with them.
    debian = (
        "gzip on;\nssl_protocols TLSv1.2 TLSv1.3;\nssl_prefer_server_ciphers on;\n"
        if debian_http_defaults
        else ""
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""  # the temp tree is private to this user
    conf = base / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {base}/nginx.pid;\nerror_log {base}/error.log warn;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n{MIME_TYPES}\ndefault_type application/octet-stream;\naccess_log off;\n"
        f"client_body_temp_path {base}/tmp/body;\nproxy_temp_path {base}/tmp/proxy;\n"
        f"fastcgi_temp_path {base}/tmp/fastcgi;\nuwsgi_temp_path {base}/tmp/uwsgi;\n"
        f"scgi_temp_path {base}/tmp/scgi;\n{debian}include cargwin.conf;\n}}\n"
    )
    (base / "tmp").mkdir()
    return Site(base, conf, http_port, https_port, status_port, cafile, root)


def nginx_test(nginx_bin: str, site: Site) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nginx_bin, "-t", "-p", str(site.prefix), "-c", str(site.conf), "-e", str(site.prefix / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )


def unexpected_warnings(output: str) -> list[str]:
    # nginx >= 1.25.1 prefers "http2 on;", but Debian 12 ships 1.22, which only knows "listen ... http2".
    return [
        line
        for line in output.splitlines()
        if "[warn]" in line or "[emerg]" in line
        if 'the "listen ... http2" directive is deprecated' not in line
    ]


@pytest.mark.parametrize(
    "debian_http_defaults", [False, True], ids=["docker-nginx.conf", "debian-nginx.conf"]
)
def test_nginx_accepts_the_config(nginx_bin: str, tmp_path: Path, debian_http_defaults: bool) -> None:
    site = build_prefix(tmp_path, "127.0.0.1:8000", debian_http_defaults=debian_http_defaults)
    result = nginx_test(nginx_bin, site)
    assert result.returncode == 0, result.stderr
    assert unexpected_warnings(result.stderr) == []


@pytest.mark.parametrize("upstream", ["web:8000", "127.0.0.1:8000"], ids=["compose", "host"])
def test_template_renders_for_both_deployments(upstream: str) -> None:
    text = render(upstream)
    assert f"server {upstream};" in text
    assert f"ssl_certificate /etc/letsencrypt/live/{DOMAIN}/fullchain.pem;" in text
    assert f"ssl_certificate_key /etc/letsencrypt/live/{DOMAIN}/privkey.pem;" in text
    assert "${" not in text


def test_nginx_rejects_a_broken_config(nginx_bin: str, tmp_path: Path) -> None:
    """The harness itself can fail: a config error surfaces as a non-zero nginx -t."""
    site = build_prefix(tmp_path, "127.0.0.1:8000")
    site.conf.write_text(
        site.conf.read_text().replace("include cargwin.conf;", "include cargwin.conf; bogus_directive on;")
    )
    assert nginx_test(nginx_bin, site).returncode != 0


# ---- the running server -------------------------------------------------------------------------------------


class EchoUpstream(BaseHTTPRequestHandler):
    """Stands in for gunicorn: answers 200 with what it received, plus headers nginx must de-duplicate."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = 0
        while received < length:
            chunk = self.rfile.read(min(65536, length - received))
            if not chunk:
                break
            received += len(chunk)
        payload = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": received,
        }
        body = json.dumps(payload).encode()
        if self.path.startswith("/api/auth"):
            body += b" " * 4096  # big enough to be gzipped, were gzip allowed there
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Strict-Transport-Security", "max-age=1")
        self.send_header("X-Frame-Options", "DENY")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Running:
    site: Site

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        host: str = DOMAIN,
        tls: bool = True,
        source: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        content_length: int | None = None,
    ) -> Reply:
        port = self.site.https_port if tls else self.site.http_port
        sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        if tls:
            context = ssl.create_default_context(cafile=str(self.site.cafile))
            sock = context.wrap_socket(sock, server_hostname=host)
        with sock:
            length = len(body) if content_length is None else content_length
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            if body or content_length is not None:
                lines.append(f"Content-Length: {length}")
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            response = http.client.HTTPResponse(sock, method=method)
            response.begin()
            return Reply(response.status, response.headers, response.read())


@pytest.fixture(scope="module")
def running(nginx_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), EchoUpstream)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    site = build_prefix(tmp_path_factory.mktemp("nginx"), f"127.0.0.1:{upstream.server_address[1]}")

    root = site.root
    (root / "site" / "static" / "js").mkdir(parents=True)
    (root / "site" / "index.html").write_text("<!doctype html><title>Cargwin</title><div id=root></div>")
    (root / "site" / "static" / "js" / "main.1a2b3c4d.js").write_text("console.log('cargwin');\n" * 200)
    (root / "site" / ".env").write_text("SECRET=1")
    (root / "acme" / ".well-known" / "acme-challenge").mkdir(parents=True)
    (root / "acme" / ".well-known" / "acme-challenge" / "token123").write_text("token123.thumbprint")
    (root / "state" / "uploads" / "lots").mkdir(parents=True)
    (root / "state" / "uploads" / "lots" / "car.jpg").write_bytes(b"\xff\xd8\xff\xe0fakejpeg")
    (root / "state" / "uploads" / "lots" / "evil.html").write_text("<script>alert(1)</script>")
    (root / "state" / "private-uploads").mkdir(parents=True)
    (root / "state" / "private-uploads" / "licence.jpg").write_bytes(b"PRIVATE-DOCUMENT")

    process = subprocess.Popen(
        [
            nginx_bin,
            "-p",
            str(site.prefix),
            "-c",
            str(site.conf),
            "-e",
            str(site.prefix / "error.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", site.status_port), timeout=1).close()
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = site.prefix / "error.log"
                    detail = log.read_text() if log.exists() else "no error log"
                    raise RuntimeError(f"nginx did not start: {detail}") from exc
                time.sleep(0.05)
        yield Running(site)
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


def test_http_redirects_to_https(running: Running) -> None:
    reply = running.request("/cars/bmw-x5?term=36", tls=False)
    assert reply.status == 301
    assert reply.headers["Location"] == f"https://{DOMAIN}/cars/bmw-x5?term=36"


def test_acme_challenge_stays_on_http(running: Running) -> None:
    reply = running.request("/.well-known/acme-challenge/token123", tls=False)
    assert reply.status == 200
    assert reply.body == b"token123.thumbprint"


def test_unknown_host_names_get_nothing(running: Running) -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        running.request("/", tls=False, host="evil.test")
    with pytest.raises(ssl.SSLError):
        running.request("/", host="evil.test")


def test_spa_index_and_client_routes_are_never_cached(running: Running) -> None:
    for path in ("/", "/index.html", "/cars/2026-bmw-x5-lease"):
        reply = running.request(path)
        assert reply.status == 200, path
        assert b"<div id=root>" in reply.body, path
        assert reply.headers["Cache-Control"] == "no-cache", path


def test_security_headers_on_pages_assets_and_api(running: Running) -> None:
    for path in ("/", "/static/js/main.1a2b3c4d.js", "/api/lots", "/uploads/lots/car.jpg", "/nope.js"):
        reply = running.request(path)
        assert reply.headers.get_all("Strict-Transport-Security") == ["max-age=63072000"], path
        assert reply.headers["X-Content-Type-Options"] == "nosniff", path
        assert reply.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"], path
        assert "frame-ancestors 'self'" in (reply.headers["Content-Security-Policy"] or ""), path
        assert reply.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path
        assert "nginx/" not in (reply.headers["Server"] or ""), path


def test_hashed_assets_are_immutable_and_missing_ones_are_404(running: Running) -> None:
    reply = running.request("/static/js/main.1a2b3c4d.js")
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    missing = running.request("/static/js/main.00000000.js")
    assert missing.status == 404
    assert b"<div id=root>" not in missing.body


def test_text_is_gzipped_but_auth_responses_are_not(running: Running) -> None:
    reply = running.request("/static/js/main.1a2b3c4d.js", headers={"Accept-Encoding": "gzip"})
    assert reply.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(reply.body).startswith(b"console.log")
    auth = running.request(
        "/api/auth/login", method="POST", source="127.0.0.4", headers={"Accept-Encoding": "gzip"}
    )
    assert auth.status == 200
    assert auth.headers["Content-Encoding"] is None


def test_api_and_admin_reach_the_app_with_forwarded_headers(running: Running) -> None:
    reply = running.request(
        "/api/lots?make=bmw", headers={"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "client-chosen"}
    )
    assert reply.status == 200
    seen = reply.json()
    assert seen["path"] == "/api/lots?make=bmw"
    headers = seen["headers"]
    assert headers["host"] == DOMAIN
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == DOMAIN
    assert headers["x-real-ip"] == "127.0.0.1"
    # The app trusts one proxy and reads the last hop, the one nginx appended.
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    for path in (
        "/admin",
        "/admin/",
        "/admin/lot/?page=2",
        "/webhooks/twilio/sms",
        "/unsubscribe/abc.def",
        "/app-static/x.svg",
    ):
        assert running.request(path).json()["path"] == path
    # Only /admin itself: a client route that merely starts with the word stays in the React app.
    assert b"<div id=root>" in running.request("/administrators-guide").body


def test_metrics_are_denied_to_everyone_but_this_machine(running: Running) -> None:
    for path in ("/metrics", "/metrics/", "//metrics", "/%6Detrics", "/api/../metrics", "/metrics?format=x"):
        assert running.request(path, source="127.0.0.2").status == 403, path
    assert running.request("/metrics").json()["path"] == "/metrics"


def test_request_bodies_are_capped_at_max_upload_size(running: Running) -> None:
    too_big = running.request("/api/uploads", method="POST", content_length=MAX_UPLOAD_SIZE + 1)
    assert too_big.status == 413
    # nginx's own refusal speaks the API's error envelope, not an HTML page.
    assert too_big.headers["Content-Type"].startswith("application/json")
    assert too_big.json() == {"detail": "File too large (max 10 MB)"}
    fits = running.request("/api/uploads", method="POST", body=b"x" * MAX_UPLOAD_SIZE)
    assert fits.status == 200
    assert fits.json()["body"] == MAX_UPLOAD_SIZE


def test_uploads_serve_images_only(running: Running) -> None:
    image = running.request("/uploads/lots/car.jpg")
    assert image.status == 200
    assert image.body == b"\xff\xd8\xff\xe0fakejpeg"
    assert image.headers["Content-Type"] == "image/jpeg"
    assert image.headers["Cache-Control"] == "public, max-age=86400"
    assert running.request("/uploads/lots/evil.html").status == 404
    assert running.request("/uploads/lots/").status == 404
    assert running.request("/uploads/lots/missing.jpg").status == 404
    for path in ("/uploads/../private-uploads/licence.jpg", "/private-uploads/licence.jpg"):
        assert b"PRIVATE-DOCUMENT" not in running.request(path).body, path


def test_dot_files_are_hidden(running: Running) -> None:
    reply = running.request("/.env")
    assert reply.status == 404
    assert b"SECRET" not in reply.body


def test_auth_endpoints_are_rate_limited_per_client(running: Running) -> None:
    statuses = [
        running.request("/api/auth/login", method="POST", source="127.0.0.3").status for _ in range(16)
    ]
    # 10 requests a minute with a burst of 10: the first 11 pass at once, the rest are refused.
    assert statuses[:11] == [200] * 11
    assert set(statuses[11:]) == {429}
    refused = running.request("/api/auth/login", method="POST", source="127.0.0.3")
    assert refused.json() == {"detail": "Too many requests. Please try again later."}
    assert refused.headers["Retry-After"] == "60"
    # Other API paths and other clients are not affected.
    assert running.request("/api/lots", source="127.0.0.3").status == 200
    assert running.request("/api/auth/login", method="POST", source="127.0.0.5").status == 200


def test_local_status_endpoint(running: Running) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", running.site.status_port, timeout=5)
    connection.request("GET", "/nginx-health")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == b"ok\n"
    connection.close()


def test_access_log_keeps_tokens_out(running: Running) -> None:
    running.request("/auth/verify?token=MAGICSECRET123")
    running.request("/preview/PREVIEWSECRET456")
    running.request("/api/preview/PREVIEWSECRET789", headers={"Referer": "https://x/preview/REFERERSECRET"})
    running.request("/unsubscribe/UNSUBSECRET000")
    log = running.site.prefix / "access.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "unsubscribe" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    text = log.read_text()
    assert "/auth/verify" in text and "/unsubscribe/[token]" in text and "/api/preview/[token]" in text
    for secret in (
        "MAGICSECRET123",
        "PREVIEWSECRET456",
        "PREVIEWSECRET789",
        "REFERERSECRET",
        "UNSUBSECRET000",
    ):
        assert secret not in text, secret
