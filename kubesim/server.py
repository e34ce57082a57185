"""Running the simulator: in-process (``KubeSim``, on a daemon thread) or as ``serve()``."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from kubesim import kubeconfig as kubeconfig_mod
from kubesim import kueue, rbac, sim
from kubesim import tls as tls_mod
from kubesim.api import ApiServer
from kubesim.auth import Authenticator
from kubesim.faults import Faults
from kubesim.runtime.options import RuntimeOptions
from kubesim.runtime.options import prepare as prepare_runtime
from kubesim.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


# Young collections between two full ones (CPython's default is 10).
FULL_COLLECTION_EVERY = 1000


def quiet_collector() -> None:
    """For a process whose main work is serving kubesim: full collections a hundred times
    rarer. The store holds every object as parsed JSON; under a thousand writes a second,
    CPython's default ran a full collection every 12 s or so, each stopping the server for
    95-190 ms (with 10,000 pods), which a real API server does not do. Its objects hold no
    cycles, so reference counting frees them at once either way."""
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, FULL_COLLECTION_EVERY)


def new_store(history_size: int, *, with_kueue: bool = False) -> Store:
    """Return a store holding the default namespaces and ClusterRoles of a new cluster
    (and Kueue's CRDs with ``with_kueue``)."""
    store = Store(history_size=history_size)
    for role in rbac.DEFAULT_CLUSTER_ROLES:
        store.create(f"clusterroles.{rbac.RBAC}", role)
    if with_kueue:
        kueue.install(store)
    return store


def _start_controllers(
    store: Store, nodes: str | None, speed: float, runtime: RuntimeOptions | None = None
) -> Any:
    """Start kubesim.sim's controllers on the running loop, with Kueue's when its CRDs are
    served; return their handle."""
    controllers = sim.start_controllers(store, nodes=nodes, speed=speed, runtime=runtime)
    if kueue.installed(store):
        controllers.add(kueue.start(store, controllers.events))
    return controllers


class KubeSim:
    """A simulated Kubernetes API server.

    ``start()`` runs it on a daemon thread with its own event loop; every store access
    from other threads must go through ``call()``. ``extra_tokens`` maps more bearer tokens
    to user names (names starting with "readonly" may only get/list/watch).
    ``users`` maps tokens to ordinary user names, which RBAC authorizes like service
    accounts. ``controllers=False`` serves the API without the simulation controllers.
    ``kueue=False`` leaves Kueue out (its CRDs, controller and visibility API are served
    by default).
    ``runtime`` chooses the local runtime (`kubesim.runtime.options`); raises
    RuntimeUnavailable at construction when it asks for local and no namespace can be made.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        nodes: str | None = None,
        speed: float = 1.0,
        tls: bool = False,
        kubeconfig: str | None = None,
        faults: str | None = None,
        token: str | None = None,
        extra_tokens: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
        history_size: int = 10_000,
        bookmark_interval: float = 1.0,
        watch_queue: int = 10_000,
        controllers: bool = True,
        runtime: RuntimeOptions | None = None,
        kueue: bool = True,
    ) -> None:
        self.host = host
        self.kueue = kueue
        self.port = port
        self.nodes = nodes
        self.speed = speed
        self.tls = tls
        self.kubeconfig_path = kubeconfig
        self.token = token or secrets.token_urlsafe(32)
        self.extra_tokens = dict(extra_tokens or {})
        self.auth = Authenticator(self.token, self.extra_tokens, users)
        self.faults = Faults(faults)
        self.history_size = history_size
        self.bookmark_interval = bookmark_interval
        self.watch_queue = watch_queue
        self.run_controllers = controllers
        self.runtime = prepare_runtime(runtime or RuntimeOptions())
        self._tls = tls_mod.generate() if tls else None
        self.ca_data: str | None = self._tls.ca_pem if self._tls else None
        self.store = new_store(history_size, with_kueue=kueue)
        self.api: ApiServer | None = None
        self.controllers: Any = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # ----------------------------------------------------------------- properties
    @property
    def url(self) -> str:
        """Return the base URL clients should use (``http(s)://host:port``)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    # ----------------------------------------------------------------- async core
    async def _start_http(self) -> None:
        self.api = ApiServer(
            self.store,
            self.auth,
            self.faults,
            bookmark_interval=self.bookmark_interval,
            watch_queue=self.watch_queue,
            address=f"{self.host}:{self.port}",
        )
        self._runner = web.AppRunner(
            self.api.make_app(), handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        ctx = self._tls.server_context() if self._tls else None
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ctx, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]
            self.api.address = f"{self.host}:{self.port}"

    async def _stop_http(self) -> None:
        if self.api is not None:
            self.api.close_streams()
            # Let watch handlers notice the close and finish their responses.
            await asyncio.sleep(0)
            await self.api.routes.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def astart(self) -> None:
        """Start HTTP serving and controllers on the current loop; write the kubeconfig."""
        self._loop = asyncio.get_running_loop()
        await self._start_http()
        if self.kubeconfig_path:
            kubeconfig_mod.write(self.kubeconfig_path, self.url, self.token, self.ca_data)
        if self.run_controllers:
            self.controllers = _start_controllers(self.store, self.nodes, self.speed, self.runtime)
        self._attach()

    def _attach(self) -> None:
        """Let the API server reach what the controllers measure (metrics)."""
        if self.api is not None:
            self.api.routes.attach(self.controllers)

    async def astop(self) -> None:
        """Stop controllers and the HTTP server (open watches are closed first)."""
        if self.controllers is not None:
            try:
                await self.controllers.stop()
            except Exception:
                log.exception("stopping controllers failed")
            self.controllers = None
        await self._stop_http()

    async def arestart(self, keep_state: bool = True) -> None:
        """Restart HTTP serving on the same port; with ``keep_state=False`` wipe the store."""
        await self._stop_http()
        if not keep_state:
            if self.controllers is not None:
                await self.controllers.stop()
                self.controllers = None
            self.store = new_store(self.history_size, with_kueue=self.kueue)
            if self.run_controllers:
                self.controllers = _start_controllers(
                    self.store, self.nodes, self.speed, self.runtime
                )
        await self._start_http()
        self._attach()

    # ----------------------------------------------------------------- thread API
    def start(self) -> KubeSim:
        """Run the server on a daemon thread; return once it is listening."""
        if self._thread is not None:
            raise RuntimeError("KubeSim already started")
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.astart())
            except BaseException as exc:  # surface start-up failures to the caller
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                self._stopped.set()

        self._thread = threading.Thread(target=run, name="kubesim", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = None
            raise errors[0]
        return self

    def _run(self, coro: Any, timeout: float | None = 30) -> Any:
        if self._loop is None:
            raise RuntimeError("KubeSim is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Shut down: stop controllers, close watches and the server, join the thread."""
        if self._thread is None or self._loop is None:
            return
        try:
            self._run(self.astop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def restart(self, *, keep_state: bool = True) -> None:
        """Stop and start the HTTP server on the same port, keeping or wiping the store."""
        self._run(self.arestart(keep_state))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result (or raise its error)."""
        if self._loop is None:
            raise RuntimeError("KubeSim is not running")
        if threading.current_thread() is self._thread:
            return fn(*args)

        async def invoke() -> T:
            return fn(*args)

        return self._run(invoke())

    def service_account_token(self, namespace: str, name: str) -> str:
        """Return a bearer token for service account ``namespace/name`` (RBAC applies)."""
        return self.auth.service_account_token(namespace, name)

    def ensure_service_account_now(self, namespace: str, name: str) -> None:
        """On the loop thread: create the namespace and service account unless they exist."""
        store = self.store
        if not store.namespace_exists(namespace):
            store.create("namespaces", {"metadata": {"name": namespace}})
        if store.peek("serviceaccounts", name, namespace=namespace) is None:
            store.create("serviceaccounts", {"metadata": {"name": name}}, namespace=namespace)

    def ensure_service_account(self, namespace: str, name: str) -> None:
        """Create the namespace and the service account unless they exist."""
        self.call(self.ensure_service_account_now, namespace, name)

    def write_kubeconfig_for(self, path: str, namespace: str, name: str) -> str:
        """Write a kubeconfig at ``path`` that authenticates as service account
        ``namespace/name`` (created if missing, with no permissions until bound); return it."""
        self.ensure_service_account(namespace, name)
        token = self.service_account_token(namespace, name)
        return kubeconfig_mod.write(path, self.url, token, self.ca_data, namespace=namespace)

    def stats(self) -> dict:
        """Return the same counters as ``GET /kubesim/stats``."""
        return self.call(lambda: self.api.stats() if self.api else {})

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 6443,
    nodes: str | None = None,
    speed: float = 1.0,
    tls: bool = False,
    kubeconfig: str | None = None,
    faults: str | None = None,
    token: str | None = None,
    kubeconfig_for: list[tuple[str, str, str]] | None = None,
    ready: Callable[[KubeSim], None] | None = None,
    runtime: RuntimeOptions | None = None,
    kueue: bool = True,
) -> None:
    """Serve on the current event loop until cancelled; call ``ready(sim)`` once listening.

    ``kubeconfig_for`` lists (namespace, service account, path): a kubeconfig for each is
    written once serving, the service account created if missing.
    """
    sim = KubeSim(
        host=host,
        port=port,
        nodes=nodes,
        speed=speed,
        tls=tls,
        kubeconfig=kubeconfig,
        faults=faults,
        token=token,
        runtime=runtime,
        kueue=kueue,
    )
    await sim.astart()
    for namespace, name, path in kubeconfig_for or ():
        sim.ensure_service_account_now(namespace, name)
        kubeconfig_mod.write(
            path,
            sim.url,
            sim.service_account_token(namespace, name),
            sim.ca_data,
            namespace=namespace,
        )
    if ready is not None:
        ready(sim)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.astop()
