# syntax=docker/dockerfile:1
# Modelgate's image: the API (gunicorn, the default command), and with another command the
# migration job (`modelgate db upgrade`), the Celery worker (`modelgate worker`) and beat
# (`modelgate beat`); the Helm chart in helm/modelgate runs each of them from this image.
#
#   docker build -t modelgate:dev .
#   docker run -e MODELGATE_DATABASE_URL=... -e MODELGATE_SECRET_KEY=... -p 8080:8080 modelgate:dev

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install the wheel and its pinned dependencies into a virtualenv --------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Every dependency ships as a wheel (psycopg2-binary included), so no compiler is needed
# even here. The virtualenv has no pip of its own: the final image gets none.
RUN python -m venv --without-pip /opt/modelgate
# .dockerignore lets through only what the wheel is built from.
COPY . .
RUN pip --python /opt/modelgate/bin/python install --only-binary=:all: \
        -c requirements/constraints.txt . \
    && /opt/modelgate/bin/python -m compileall -q /opt/modelgate/lib

# ---- final: the virtualenv on a clean slim Python, run as a user without privileges ------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 modelgate \
    && useradd --system --uid 10001 --gid modelgate --home-dir /home/modelgate \
        --create-home --shell /usr/sbin/nologin modelgate
COPY --from=build /opt/modelgate /opt/modelgate
ENV PATH=/opt/modelgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    MODELGATE_LOG_FORMAT=json
WORKDIR /home/modelgate
USER 10001:10001
EXPOSE 8080
# /healthz answers while the process is up (no database involved), as a liveness check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["gunicorn", "--config", "python:registry.serve.gunicorn_conf", "registry:create_app()"]
