"""Run the scheduler service: `python -m services.scheduler`."""

from services.common.service_runner import run
from services.scheduler.app import SchedulerService
from services.scheduler.settings import SchedulerSettings


def main() -> None:
    settings = SchedulerSettings()
    run(SchedulerService(settings), settings.bind_host, settings.scheduler_port, settings.log_level)


if __name__ == "__main__":
    main()
