# One image for every service; the service is selected by the command:
#   docker run cep-platform:0.1.0 python -m services.ingest     (gateway, ingest, evaluator, notifier, scheduler)
# The same image runs the Ray head and workers of the evaluator's cluster (`ray start ...`, see compose.yaml, k8s/).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: install the package and its dependencies into a virtualenv ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/cep
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN /opt/cep/bin/pip install --no-cache-dir .

# -- runtime: the virtualenv only, run as an unprivileged user --------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 cep \
    && useradd --uid 10001 --gid cep --home-dir /var/lib/cep --create-home --shell /usr/sbin/nologin cep
COPY --from=build /opt/cep /opt/cep
ENV PATH=/opt/cep/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CEP_BIND_HOST=0.0.0.0 \
    CEP_STATE_DIR=/var/lib/cep
WORKDIR /var/lib/cep
USER 10001:10001
# gateway, ingest, evaluator, notifier, scheduler (HTTP); evaluator, notifier, scheduler (gRPC)
EXPOSE 8080 8081 8082 8083 8084 50051 50052 50053
CMD ["python", "-m", "services.gateway"]
