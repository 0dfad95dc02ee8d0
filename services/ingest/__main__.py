"""Run the ingest service: `python -m services.ingest`."""

from services.common.service_runner import run
from services.ingest.app import IngestService
from services.ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    run(IngestService(settings), settings.bind_host, settings.ingest_port, settings.log_level)


if __name__ == "__main__":
    main()
