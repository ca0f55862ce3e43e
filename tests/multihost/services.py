"""The store's parts as processes on :mod:`tests.multihost.netns` hosts, each bound to its host's address.

Started here the way an operator starts them (docs/deploy.md): PostgreSQL (a private cluster),
redis-server, moto's S3 server and the two emulators on the data host; gunicorn behind nginx
on the web host; ``flask --app shop worker`` on each worker host. Every part is configured
through the same ``SHOP_*`` settings as production, nothing reaches into the app.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC

from tests.multihost.netns import Host

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None

PORTS = {"postgres": 5432, "redis": 6379, "s3": 5000, "dropbox": 8765, "stripe": 12111, "gunicorn": 8000,
         "nginx": 80}


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def tcp_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without proxies or SHOP_/AWS_ leftovers, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("SHOP_", "AWS_", "TEST_DATABASE"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


# -- data host ------------------------------------------------------------------------------------


def start_postgres(host: Host, folder: Path, log: Path, subnet: str) -> subprocess.Popen[bytes]:
    """A private cluster in ``folder`` (run as ``postgres``), listening on the host's address only,
    trusting the test subnet; with an empty database ``shop``."""
    assert PG_BIN is not None
    folder.mkdir()
    shutil.chown(folder, "postgres", "postgres")
    host.run([str(PG_BIN / "initdb"), "-D", str(folder), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
             env=clean_env({}), user="postgres")
    with open(folder / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {subnet} trust\n")
    process = host.start([str(PG_BIN / "postgres"), "-D", str(folder), "-c", f"listen_addresses={host.address}",
                          "-c", f"port={PORTS['postgres']}", "-c", f"unix_socket_directories={folder}",
                          "-c", "fsync=off", "-c", "max_connections=200"],
                         env=clean_env({}), log=log, user="postgres")
    wait_until(lambda: tcp_open(host.address, PORTS["postgres"]), 30, "PostgreSQL")
    host.run([str(PG_BIN / "createdb"), "-h", host.address, "-U", "postgres", "shop"], env=clean_env({}),
             user="postgres")
    return process


def start_redis(host: Host, folder: Path, log: Path) -> subprocess.Popen[bytes]:
    """redis-server on the host's address, persisting nothing (a restart loses every job)."""
    folder.mkdir(exist_ok=True)
    process = host.start(["redis-server", "--bind", host.address, "--port", str(PORTS["redis"]), "--save", "",
                          "--appendonly", "no", "--protected-mode", "no", "--dir", str(folder)],
                         env=clean_env({}), log=log)
    wait_until(lambda: tcp_open(host.address, PORTS["redis"]), 15, "redis-server")
    return process


def start_s3(host: Host, log: Path) -> subprocess.Popen[bytes]:
    process = host.start([sys.executable, "-m", "moto.server", "-H", host.address, "-p", str(PORTS["s3"])],
                         env=clean_env({}), log=log)
    wait_until(lambda: tcp_open(host.address, PORTS["s3"]), 30, "moto S3 server")
    return process


def start_dropbox_emulator(host: Host, app: str, log: Path) -> subprocess.Popen[bytes]:
    process = host.start([sys.executable, "-m", "dropbox_emulator", "--host", host.address,
                          "--port", str(PORTS["dropbox"]), "--app", app], env=clean_env({}), log=log, cwd=ROOT)
    wait_until(lambda: tcp_open(host.address, PORTS["dropbox"]), 30, "Dropbox emulator")
    return process


def start_stripe_emulator(host: Host, api_key: str, webhook_url: str, webhook_secret: str,
                          log: Path) -> subprocess.Popen[bytes]:
    port = PORTS["stripe"]
    process = host.start([sys.executable, "-m", "stripe_emulator", "--host", host.address, "--port", str(port),
                          "--api-key", api_key, "--webhook", webhook_url, "--webhook-secret", webhook_secret,
                          "--public-url", f"http://{host.address}:{port}", "--retry-base-delay", "0.5"],
                         env=clean_env({}), log=log, cwd=ROOT)
    wait_until(lambda: tcp_open(host.address, port), 30, "Stripe emulator")
    return process


# -- web host -------------------------------------------------------------------------------------


def start_gunicorn(host: Host, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = host.start([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
                         env=env, log=log, cwd=ROOT)
    wait_until(lambda: tcp_open(host.address, PORTS["gunicorn"]), 60, "gunicorn")
    return process


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    # $uri is the URI after the internal redirect: /protected-media/... when nginx sent the file itself.
    log_format handoff '$remote_addr "$request" $status $body_bytes_sent uri=$uri';
    access_log {dir}/access.log handoff;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    sendfile on;

    upstream shop {{
        server {address}:{upstream_port};
        keepalive 16;
    }}
    server {{
        listen {address}:{port};
        server_name _;
        location ~ "^/static/(?<asset>.+)\\.[0-9a-f]{{10}}(?<ext>\\.[A-Za-z0-9]+)$" {{
            alias {root}/shop/static/$asset$ext;
            add_header Cache-Control "public, max-age=31536000, immutable";
        }}
        location /static/ {{ alias {root}/shop/static/; expires 7d; }}
        location / {{
            proxy_pass http://shop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_buffering off;
            proxy_read_timeout 300s;
            client_max_body_size 64k;
        }}
        location /protected-media/ {{
            internal;
            alias {media}/;
        }}
    }}
}}
"""


def start_nginx(host: Host, folder: Path, media: Path, log: Path) -> subprocess.Popen[bytes]:
    """nginx in front of gunicorn, as docs/deploy.md configures it, serving ``media`` for X-Accel-Redirect."""
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, address=host.address, port=PORTS["nginx"],
                                      upstream_port=PORTS["gunicorn"], root=ROOT, media=media))
    process = host.start(["nginx", "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log"),
                          "-g", "daemon off;"], env=clean_env({}), log=log)
    wait_until(lambda: tcp_open(host.address, PORTS["nginx"]), 15, "nginx")
    return process


# -- worker hosts ---------------------------------------------------------------------------------


def start_worker(host: Host, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    return host.start([sys.executable, "-m", "flask", "--app", "shop", "worker", "--name", host.name],
                      env=env, log=log, cwd=ROOT)


def flask(host: Host, env: Mapping[str, str], *args: str, timeout: float = 180) -> str:
    """An operator command (``flask --app shop ...``) run on ``host``; returns its output."""
    done = host.run([sys.executable, "-m", "flask", "--app", "shop", *args], env=env, cwd=ROOT, timeout=timeout)
    return done.stdout + done.stderr


# -- a tiny album of masters ----------------------------------------------------------------------


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_album(folder: Path, artist: str, album: str, titles: list[str], seconds: float = 1.5) -> Path:
    """One album folder of tagged 44.1 kHz FLAC masters (a different tone each) and a cover."""
    folder.mkdir(parents=True)
    rate = 44100
    for number, title in enumerate(titles, start=1):
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 110.0 * (number + 1) * t)).astype(np.float32)
        path = folder / f"{number:02d} {title}.flac"
        sf.write(path, np.column_stack([samples, samples]), rate, format="FLAC", subtype="PCM_16")
        tags = FLAC(path)
        tags.update({"title": title, "artist": artist, "album": album, "tracknumber": f"{number}/{len(titles)}",
                     "genre": "Electronic", "date": "2026"})
        tags.save()
    (folder / "cover.png").write_bytes(_png(64, 64, (40, 90, 160)))
    return folder
