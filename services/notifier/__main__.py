"""Run the notifier service: `python -m services.notifier`."""

from services.common.runner import run
from services.notifier.app import NotifierService
from services.notifier.settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()
    run(NotifierService(settings), settings.bind_host, settings.notifier_port, settings.log_level)


if __name__ == "__main__":
    main()
