"""The local runtime: containers of matching images run as processes on this machine.

`options` holds the choices made at start (mode, interpreter, image map) and the check that
namespaces can be made; `imagemap` decides which containers run locally; `podenv`,
`volumes` and `hosts` prepare what a container sees; `isolate` builds the command that
runs it in its own mount and PID namespaces; `process` runs, measures and stops it;
`probes` checks it.  Nothing here knows the API server: the kubelet (`kubesim.sim`) drives it.
`hook` is what the API server asks of a runtime that runs pods (`PodRuntime`, `Process`,
the store's `Runtimes`): exec, attach and port-forward reach real processes through it.
"""

from kubesim.runtime.hook import PodRuntime, Process, Runtimes

__all__ = ["PodRuntime", "Process", "Runtimes"]
