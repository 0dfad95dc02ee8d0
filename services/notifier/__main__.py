"""Run the notifier service: `python -m services.notifier`."""

from services.common.secrets.sealing import SecretsKeyError
from services.common.service_runner import run
from services.notifier.app import NotifierService
from services.notifier.settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()
    try:
        service = NotifierService(settings)
    except SecretsKeyError as exc:
        raise SystemExit(f"notifier: {exc}") from None
    run(service, settings.bind_host, settings.notifier_port, settings.log_level)


if __name__ == "__main__":
    main()
