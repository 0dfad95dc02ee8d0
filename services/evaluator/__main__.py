"""Run the evaluator service: `python -m services.evaluator` (starts Ray, then the shard actors)."""

from services.common.logs import configure_logging
from services.common.service_runner import run
from services.evaluator.app import EvaluatorService
from services.evaluator.ray_runtime import start_ray, stop_ray
from services.evaluator.settings import EvaluatorSettings


def main() -> None:
    settings = EvaluatorSettings()
    configure_logging("evaluator", settings.log_level)
    start_ray(settings)  # before the runner's signal handlers: ray.init replaces SIGTERM's
    try:
        run(EvaluatorService(settings), settings.bind_host, settings.evaluator_port, settings.log_level)
    finally:
        stop_ray()  # with a local cluster this also ends its GCS, raylet and workers


if __name__ == "__main__":
    main()
