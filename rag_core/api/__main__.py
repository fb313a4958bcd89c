"""`python -m rag_core.api`: serve the local HTTP API with uvicorn (see rag_core.api)."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from rag_core.access.exposure import check_exposure
from rag_core.access.phi_logs import configure_logging
from rag_core.errors import RagError
from rag_core.services import build_services
from rag_core.serving import StoppableServer
from rag_core.settings import Settings

log = logging.getLogger("rag_core.api")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag_core.api",
        description="Serve the local HTTP API (REST and OpenAI-compatible chat). Every call "
        "but /healthz needs a personal token: python -m rag_core users token create NAME. "
        "Docs: http://ADDRESS:PORT/docs (served from this machine).",
    )
    parser.add_argument("--address", help="default: RAG_API_ADDRESS (127.0.0.1)")
    parser.add_argument("--port", type=int, help="default: RAG_API_PORT (8502)")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings)
    address = args.address or settings.api_address
    port = args.port or settings.api_port
    try:
        check_exposure(address, settings.auth_enabled)
        services = build_services(settings)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from rag_core.api.app import create_app

    config = uvicorn.Config(
        create_app(services),
        host=address,
        port=port,
        log_level="warning",
        access_log=False,  # paths carry no content, but the audit trail has them
    )
    log.info("serving the API on http://%s:%d (docs: /docs)", address, port)
    try:
        StoppableServer(config).run()
    finally:
        services.close()
    log.info("the API stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
