"""The embedded mode's channel layer."""

import time

from channels.layers import InMemoryChannelLayer


class InProcessChannelLayer(InMemoryChannelLayer):
    """Channels' in-memory layer with its expiry sweep run at most once per ``sweep_every``.

    The stock layer walks every channel and every group membership on each ``receive``;
    with a thousand open websockets each waiting in ``receive``, one round of messages
    then costs a million steps. Messages expire after ``expiry`` (60 s) and memberships
    after ``group_expiry`` (a day), so sweeping once a second loses no precision worth
    having.
    """

    def __init__(self, *args, sweep_every: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sweep_every = sweep_every
        self._swept = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept >= self.sweep_every:
            self._swept = now
            super()._clean_expired()
