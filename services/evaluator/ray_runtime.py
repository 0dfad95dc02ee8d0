"""Starting and stopping Ray for the evaluator: local by default, a cluster when RAY_ADDRESS names one."""

from __future__ import annotations

import logging
import os

import ray

from services.common.statedir import ray_namespace, ray_temp_dir
from services.evaluator.settings import EvaluatorSettings

log = logging.getLogger(__name__)


def start_ray(settings: EvaluatorSettings) -> None:
    """`ray.init` in the main thread, before the service installs its own signal handlers (Ray replaces them)."""
    namespace = ray_namespace(settings.state_dir)
    if settings.ray_address:
        ray.init(address=settings.ray_address, namespace=namespace, log_to_driver=False)
    else:
        # The workers a local raylet starts (the shard actors) get this nice value instead of Ray's 15; an
        # actor also sets its own (`shard.set_niceness`), which is what counts on a cluster.
        os.environ.setdefault("RAY_worker_niceness", str(settings.shard_niceness))
        ray.init(
            address="local",
            namespace=namespace,
            include_dashboard=False,
            num_cpus=settings.ray_num_cpus,
            _temp_dir=str(ray_temp_dir(settings.state_dir)),
            log_to_driver=False,
        )
    log.info("ray started", extra={"subject": settings.ray_address or "local"})


def stop_ray() -> None:
    """Shut Ray down: with a local cluster this stops its GCS, raylet and workers too."""
    if ray.is_initialized():
        ray.shutdown()
