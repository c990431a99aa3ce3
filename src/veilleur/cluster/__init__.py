"""The cluster runtime: a site's cameras on the nodes of a Ray cluster (docs/cluster.md).

`ClusterRuntime` offers the interface of the one-machine `runtime.Supervisor`, so the server,
the API and the console use either alike; it needs the optional extra `veilleur[cluster]`
(Ray)."""

from veilleur.cluster.runtime import CAMERA_RESOURCE, ClusterRuntime

__all__ = ["CAMERA_RESOURCE", "ClusterRuntime"]
