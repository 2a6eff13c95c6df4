# The operator image: python:3.11-slim, the package installed from this repository, non-root.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY emulator ./emulator
COPY tools/controlplane/ocids_controlplane ./tools/controlplane/ocids_controlplane
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="ocids-operator" \
      org.opencontainers.image.description="Run OCI Data Science Jobs as Kubernetes resources" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
# A fixed numeric UID so Kubernetes' runAsNonRoot can verify it (the chart uses 10001 too).
RUN groupadd --system --gid 10001 ocids && useradd --system --uid 10001 --gid 10001 --no-create-home ocids
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["ocids-operator"]
