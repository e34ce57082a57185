"""KWOK-style simulation for kubesim: nodes, scheduler, kubelet, Job, ReplicaSet and
Deployment controllers.  Pods move through their lifecycle on timers; with the local
runtime (`kubesim.runtime`), containers of mapped images run as real processes.

The server calls `start_controllers(store, nodes=spec, speed=s)` on its event loop thread.
See `nodespec` for the node spec grammar and `script` for the per-pod behaviour knobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubesim.runtime.options import RuntimeOptions

from .cronjobs import CronJobController
from .deployments import DeploymentController
from .endpoints import EndpointsController
from .events import EventRecorder
from .hpa import HpaController
from .informer import WATCHED, Cluster, Controller
from .jobs import JobController
from .kubelet import Kubelet
from .nodes import heartbeat_loop, register_nodes
from .podsets import DaemonSetController, StatefulSetController
from .replicasets import ReplicaSetController, ReplicationControllerController
from .scheduler import Scheduler
from .storage import StorageController, ensure_default_class

__all__ = ["Controllers", "start_controllers"]

log = logging.getLogger(__name__)


class Controllers:
    """Handle on the running simulation; `stop()` cancels its tasks."""

    def __init__(
        self,
        cluster: Cluster,
        controllers: list[Controller],
        tasks: list[asyncio.Task[Any]],
        recorder: EventRecorder,
    ) -> None:
        self.cluster = cluster
        self.controllers = controllers
        self.tasks = tasks
        self.events = recorder

    def add(self, controller: Controller) -> None:
        """Run one more controller (on the running loop) and stop it with the others."""
        self.controllers.append(controller)
        task = asyncio.get_running_loop().create_task(
            controller.run(), name=f"kubesim-{controller.name}"
        )
        self.tasks.append(task)

    def get(self, name: str) -> Controller:
        """Return the controller called `name` (e.g. "scheduler", "kubelet")."""
        for controller in self.controllers:
            if controller.name == name:
                return controller
        raise KeyError(name)

    async def stop(self) -> None:
        """Cancel every controller task and timer and stop every local process; returns
        when all have finished."""
        for controller in self.controllers:
            controller.close()
        for controller in self.controllers:
            shutdown = getattr(controller, "shutdown", None)
            if shutdown is not None:
                try:
                    await shutdown()
                except Exception:
                    log.exception("stopping %s failed", controller.name)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()


def start_controllers(
    store: Any, *, nodes: str | None, speed: float, runtime: RuntimeOptions | None = None
) -> Controllers:
    """Create the nodes from the spec and start the scheduler, kubelet, job, replicaset and
    deployment controllers as asyncio tasks on the running loop.

    Raises ValueError for a bad node spec or a non-positive speed (before any task starts).
    Must be called on the loop thread, with a running loop.
    """
    if not speed or speed <= 0:
        raise ValueError(f"speed must be positive, got {speed!r}")
    names = register_nodes(store, nodes)
    cluster = Cluster()
    recorder = EventRecorder(store)
    kubelet = Kubelet(store, cluster, recorder, speed, runtime)
    ensure_default_class(store)
    controllers: list[Controller] = [
        Scheduler(store, cluster, recorder, speed),
        kubelet,
        JobController(store, cluster, recorder, speed),
        ReplicaSetController(store, cluster, recorder, speed),
        DeploymentController(store, cluster, recorder, speed),
        ReplicationControllerController(store, cluster, recorder, speed),
        DaemonSetController(store, cluster, recorder, speed),
        StatefulSetController(store, cluster, recorder, speed),
        CronJobController(store, cluster, recorder, speed),
        EndpointsController(store, cluster),
        StorageController(store, cluster, recorder, runtime.root if runtime else ""),
        HpaController(store, cluster, recorder, speed, kubelet.measured),
    ]
    # Prime the caches before listening; objects created in between are delivered twice,
    # which level-triggered controllers tolerate.
    store.add_listener(cluster.on_event)
    for resource in WATCHED:
        items, _ = store.list(resource)
        cluster.prime(resource, items)
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c.run(), name=f"kubesim-{c.name}") for c in controllers]
    tasks.append(loop.create_task(heartbeat_loop(store, names, speed), name="kubesim-heartbeat"))
    log.info("kubesim simulation started: %d nodes, speed %s", len(names), speed)
    return Controllers(cluster, controllers, tasks, recorder)
