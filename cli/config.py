"""Where kp keeps the portal URL, the token and the current workspace.

The file is JSON, ``~/.config/kubeportal/config.json`` unless ``KP_CONFIG`` names another path,
and is written with mode 0600 because it holds a bearer token. Command-line flags win over the
environment (``KP_URL``, ``KP_TOKEN``, ``KP_WORKSPACE``), which wins over the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cli.errors import UsageError

ENV_CONFIG = "KP_CONFIG"
ENV_URL = "KP_URL"
ENV_TOKEN = "KP_TOKEN"
ENV_WORKSPACE = "KP_WORKSPACE"


@dataclass
class Config:
    """The saved settings; any field may be missing."""

    url: str | None = None
    token: str | None = None
    workspace: str | None = None


def config_path() -> Path:
    """Returns the config file path: ``$KP_CONFIG`` or ``~/.config/kubeportal/config.json``."""
    override = os.environ.get(ENV_CONFIG)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kubeportal" / "config.json"


def load_config(path: Path | None = None) -> Config:
    """Reads the config file; a missing file gives an empty Config."""
    path = path or config_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path}: cannot read the kp config file ({exc}); fix or delete it"
        ) from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: the kp config file is not a JSON object; fix or delete it")

    def text(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) and value else None

    return Config(url=text("url"), token=text("token"), workspace=text("workspace"))


def save_config(config: Config, path: Path | None = None) -> Path:
    """Writes ``config`` atomically with mode 0600 (its folder 0700 when created)."""
    path = path or config_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".config-", dir=path.parent)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(config), handle, indent=2)
                handle.write("\n")
            os.chmod(temp, 0o600)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the kp config file ({exc})") from None
    return path


def delete_config(path: Path | None = None) -> bool:
    """Removes the config file; returns whether there was one."""
    path = path or config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UsageError(f"{path}: cannot delete the kp config file ({exc})") from None
    return True


def normalize_url(url: str) -> str:
    """Returns the portal base URL without a trailing slash or ``/api/v1`` suffix.

    Raises UsageError when ``url`` is not an http(s) URL.
    """
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--url {url!r} is not a portal address such as https://portal.example.org"
        )
    return url


def first(*values: str | None) -> str | None:
    """Returns the first non-empty value."""
    for value in values:
        if value:
            return value
    return None
