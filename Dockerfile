# chatmem's container image: CPU only, runs as an unprivileged user, `chatmem serve` by default.
# Build: docker build -t chatmem .   Run with PostgreSQL: docker compose up (compose.yaml, docs/deploy.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the plain package into a virtual environment ---------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/chatmem
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# `pip install .`, no extras: no torch, no CUDA. The local embedder's model files are package data
# of chatmem, so they are inside the image and nothing is downloaded at run time.
RUN /opt/chatmem/bin/pip install . \
    && /opt/chatmem/bin/chatmem --version

# --- run: the environment alone, without pip's build leftovers ---------------------------------------
FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin chatmem \
    && mkdir -p /data \
    && chown chatmem:chatmem /data
COPY --from=build /opt/chatmem /opt/chatmem
COPY docker/entrypoint.sh /usr/local/bin/chatmem-entrypoint
COPY docker/healthcheck.py /usr/local/lib/chatmem/healthcheck.py
# A container listens on every interface; the data (SQLite file) lives on the /data volume; logs are
# JSON lines on stderr for the log collector. Hugging Face stays offline: the model is in the image.
ENV PATH=/opt/chatmem/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    CHATMEM_HOST=0.0.0.0 \
    CHATMEM_PORT=8000 \
    CHATMEM_DATA_DIR=/data \
    CHATMEM_LOG_FORMAT=json \
    CHATMEM_SHUTDOWN_GRACE_SECONDS=20
USER chatmem
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Ready = the database answers and the schema is at this image's newest migration.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/chatmem/healthcheck.py"]
ENTRYPOINT ["chatmem-entrypoint"]
CMD ["serve"]
