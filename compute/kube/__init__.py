"""The one package of the portal that talks Kubernetes.

- ``client``: one isolated ``ApiClient`` per cluster, and checked cluster access from a
  server URL and token;
- ``errors``: ``ClusterError`` and the translation of client failures into sentences;
- ``calls``: every request (always with a time-out), plain-JSON reads, paged lists and
  the generic create/read/patch/delete of objects of any kind;
- ``labels``: every ``kubeportal.io/*`` label key and selector;
- ``watch``: the list-then-watch engine (kinds, caches, readers, dispatch, leases).

App gateways use these modules; nothing outside this package builds a client or calls one.
"""
