"""What a simulated container "does": its scripted behaviour and log output.

Behaviour comes from pod annotations, overridden per container by environment variables:

=============================  ===========================  ==============================
annotation                     env variable                 meaning
=============================  ===========================  ==============================
kubesim.io/duration            KUBESIM_DURATION             run time in seconds (simulated)
kubesim.io/exit-code           KUBESIM_EXIT_CODE            exit code when it ends
kubesim.io/oom                 KUBESIM_OOM                  "true": OOMKilled (exit 137)
kubesim.io/crash-loop          KUBESIM_CRASH_LOOP           "true": exits non-zero each run
kubesim.io/image-pull-error    KUBESIM_IMAGE_PULL_ERROR     "true": image pull fails
kubesim.io/log-lines           KUBESIM_LOG_LINES            newline-separated log lines
kubesim.io/readiness-delay     KUBESIM_READINESS_DELAY      seconds from start to ready
kubesim.io/run-forever         KUBESIM_RUN_FOREVER          "true": never exits (servers)
=============================  ===========================  ==============================

An image whose name contains ``does-not-exist`` also fails to pull.  Pods owned by a
ReplicaSet run forever unless told otherwise.  Simulated seconds are divided by the
simulator speed to get wall-clock seconds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

DEFAULT_DURATION = 5.0
CRASH_DURATION = 1.0
SETTINGS = (
    "duration",
    "exit-code",
    "oom",
    "crash-loop",
    "image-pull-error",
    "log-lines",
    "readiness-delay",
    "run-forever",
)
ANNOTATION_PREFIX = "kubesim.io/"


def env_name(setting: str) -> str:
    """Return the environment variable for `setting`, e.g. exit-code -> KUBESIM_EXIT_CODE."""
    return "KUBESIM_" + setting.upper().replace("-", "_")


@dataclass(frozen=True)
class Behaviour:
    """The resolved script of one container."""

    duration: float
    exit_code: int
    oom: bool
    crash_loop: bool
    pull_error: bool
    log_lines: tuple[str, ...] | None
    readiness_delay: float
    run_forever: bool

    @property
    def fails(self) -> bool:
        """Return True when a run ends unsuccessfully."""
        return self.oom or self.exit_code != 0


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "y", "on")


def _number(value: str | None, default: float) -> float:
    try:
        number = float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default
    return number if number >= 0 else default


def resolve(pod: dict[str, Any], container: dict[str, Any], *, owned_by_rs: bool) -> Behaviour:
    """Return the behaviour of `container` in `pod` (env variables win over annotations)."""
    raw: dict[str, str] = {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    for setting in SETTINGS:
        value = annotations.get(ANNOTATION_PREFIX + setting)
        if value is not None:
            raw[setting] = str(value)
    env = {e.get("name"): e.get("value") for e in container.get("env") or () if "value" in e}
    for setting in SETTINGS:
        value = env.get(env_name(setting))
        if value is not None:
            raw[setting] = str(value)
    crash = _truthy(raw.get("crash-loop"))
    try:
        exit_code = int(raw.get("exit-code", "0"))
    except ValueError:
        exit_code = 1
    if crash and exit_code == 0:
        exit_code = 1
    forever_default = owned_by_rs and not crash
    run_forever = _truthy(raw["run-forever"]) if "run-forever" in raw else forever_default
    probe = container.get("readinessProbe") or {}
    lines = raw.get("log-lines")
    return Behaviour(
        duration=_number(raw.get("duration"), CRASH_DURATION if crash else DEFAULT_DURATION),
        exit_code=exit_code,
        oom=_truthy(raw.get("oom")),
        crash_loop=crash,
        pull_error=_truthy(raw.get("image-pull-error"))
        or "does-not-exist" in str(container.get("image", "")),
        log_lines=tuple(lines.split("\n")) if lines is not None else None,
        readiness_delay=_number(
            raw.get("readiness-delay"), float(probe.get("initialDelaySeconds", 0))
        ),
        run_forever=run_forever,
    )


def script_lines(pod_name: str, container: str, behaviour: Behaviour) -> list[str]:
    """Return the log lines a run prints, spread evenly over its duration by the kubelet.

    The default is a plausible training run whose loss curve is stable per pod name.
    """
    if behaviour.log_lines is not None:
        return list(behaviour.log_lines)
    if behaviour.run_forever:
        return [f"{container}: serving on 0.0.0.0:8080", f"{container}: ready to accept requests"]
    seed = zlib.crc32(f"{pod_name}/{container}".encode())
    epochs = 5
    loss = 0.9 + (seed % 100) / 1000
    lines = [f"starting training run ({epochs} epochs) in {container}"]
    for epoch in range(1, epochs + 1):
        loss *= 0.62 + ((seed >> epoch) % 10) / 100
        acc = min(0.99, 1.0 - loss / 1.6)
        lines.append(f"epoch {epoch}/{epochs} loss={loss:.3f} acc={acc:.3f}")
    if behaviour.oom:
        lines.append("RuntimeError: CUDA out of memory while allocating batch")
    elif behaviour.exit_code != 0:
        lines.append(
            f"Traceback (most recent call last): training failed (exit {behaviour.exit_code})"
        )
    else:
        lines.append(f"training finished: final loss={loss:.3f}, checkpoint saved")
    return lines
