"""A real S3 API on loopback: moto's server mode, one per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shop.storage import get_storage
from shop.storage.s3 import S3Storage
from tests.services import free_port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server running in this process (its own thread and port)."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials so boto3 signs requests (moto accepts any)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3_bucket(s3_endpoint: str, s3_credentials: None) -> str:
    """A fresh bucket per test."""
    import boto3

    name = f"shop-test-{uuid.uuid4().hex[:12]}"
    client = boto3.session.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def use_s3(app, s3_endpoint: str, s3_bucket: str) -> None:
    """Switch the app to S3 (a module asks for it first, with ``pytestmark = usefixtures("use_s3")``,
    so that no fixture has put catalog files into local storage before)."""
    app.config.update(STORAGE="s3", S3_BUCKET=s3_bucket, S3_ENDPOINT_URL=s3_endpoint, S3_REGION="us-east-1")
    app.extensions.pop("shop.storage", None)
    assert isinstance(get_storage(app), S3Storage)
