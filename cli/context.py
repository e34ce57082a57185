"""What every command needs: the resolved settings, an API client and the output mode."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urljoin

from cli.client import PortalClient
from cli.config import (
    ENV_TOKEN,
    ENV_URL,
    ENV_WORKSPACE,
    Config,
    first,
    load_config,
    normalize_url,
)
from cli.errors import NotLoggedInError, UsageError


@dataclass
class Context:
    """Flags first, then ``KP_*`` environment variables, then the config file."""

    args: argparse.Namespace

    @cached_property
    def config(self) -> Config:
        """The saved config (empty when there is none)."""
        return load_config()

    @property
    def json_output(self) -> bool:
        """Whether ``--output json`` was asked for."""
        return getattr(self.args, "output", None) == "json"

    def flag(self, name: str) -> str | None:
        """A global flag's value, if given."""
        value = getattr(self.args, name, None)
        return value if isinstance(value, str) and value else None

    @cached_property
    def url(self) -> str:
        """The portal base URL."""
        url = first(self.flag("url"), os.environ.get(ENV_URL), self.config.url)
        if not url:
            raise NotLoggedInError("not logged in: run `kp login --url URL --token TOKEN`")
        return normalize_url(url)

    @cached_property
    def token(self) -> str:
        """The API token."""
        token = first(self.flag("token"), os.environ.get(ENV_TOKEN), self.config.token)
        if not token:
            raise NotLoggedInError("not logged in: run `kp login --url URL --token TOKEN`")
        return token

    @cached_property
    def client(self) -> PortalClient:
        """The API client for the resolved URL and token."""
        return PortalClient(self.url, self.token)

    @cached_property
    def workspace(self) -> str:
        """The workspace slug commands act in."""
        slug = first(self.flag("workspace"), os.environ.get(ENV_WORKSPACE), self.config.workspace)
        if not slug:
            raise UsageError(
                "no workspace selected: pass --workspace SLUG or run `kp workspace use SLUG` "
                "(`kp workspace list` shows yours)"
            )
        return slug

    def web_url(self, link: str | None) -> str | None:
        """Makes a portal link absolute."""
        if not link:
            return None
        return urljoin(self.url + "/", link)
