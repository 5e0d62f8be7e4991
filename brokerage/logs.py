"""Structured logging: one line per event (JSON by default), stdlib loggers routed through structlog.

Every event passes :func:`mask_secrets` (ADR 008): values under secret-looking keys (password, token,
secret, authorization, api key, 554/925) become ``***``, as do FIX Password fields inside message
strings and passwords inside URLs, whatever logged them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

MASK = "***"
_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|authorization|api[_-]?key|credential|^554$|^925$)",
                         re.IGNORECASE)
# identifiers and counts about a secret are not the secret (token_id, password_changed_at, ...)
_NOT_SECRET_SUFFIX = re.compile(r"_(id|ids|count|at|name|kind|role|type|expires|ttl|length)$", re.IGNORECASE)
_FIX_SECRET = re.compile(r"(?:(?<=[\x01|^ ])|^)(554|925)=[^\x01|^ ]*")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@",
                           re.IGNORECASE)


def _mask_text(value: str) -> str:
    if "554=" in value or "925=" in value:
        value = _FIX_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", value)
    if "://" in value and "@" in value:
        value = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", value)
    return value


def _mask_value(key: str, value: Any, depth: int = 0) -> Any:
    if isinstance(value, (str, bytes)) and _SECRET_KEY.search(key) and not _NOT_SECRET_SUFFIX.search(key):
        return MASK
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, dict) and depth < 3:
        return {k: _mask_value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and depth < 3:
        return type(value)(_mask_value(key, v, depth + 1) for v in value)
    return value


def mask_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no password, token or FIX 554 in any log event."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(str(key), value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    # after format_exc_info too, so exception texts are masked as well
    final: list[structlog.types.Processor] = [structlog.processors.format_exc_info, mask_secrets]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *final,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
