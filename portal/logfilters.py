"""Filters for the portal's log configuration."""

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """Keeps Django's request log of a refusal (403, 404, any status under 500) to its one
    line: a refusal is not an error, and a traceback per 403 page floods the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
