"""A real local Ray for integration tests: loopback only, 4 logical CPUs and 2 logical GPUs on any machine."""

from __future__ import annotations

import pytest

# Imported before ray itself: importing ray_pool pins Ray to loopback, a switch Ray reads when it is imported.
from pipeline.engine.ray_pool import LOOPBACK


@pytest.fixture(scope="session")
def local_ray():
    import ray

    # Logical GPUs let the tests prove GPU pinning on a CPU-only machine; more logical CPUs than cores avoid the
    # 2-core actor-pool deadlock (ENVIRONMENT.md).
    # address="local": a private Ray even when another one runs on the machine (a `ray start` of another test).
    ray.init(address="local", num_cpus=4, num_gpus=2, include_dashboard=False, _node_ip_address=LOOPBACK)
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {LOOPBACK}
    yield ray
    ray.shutdown()
