# syntax=docker/dockerfile:1
# The engine's image: the `stockledger` command and nothing else.
#
# Two stages: the Cython stock core needs a C compiler to build, the engine
# does not to run. The first stage installs the project into a virtualenv;
# the second copies that virtualenv onto the same base, so the compiled
# extension finds the very Python it was built for, and no compiler ships.

FROM python:3.11-slim AS build

RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/stockledger
WORKDIR /src
# pyproject.toml declares README.md as the project's readme: the build reads it.
COPY pyproject.toml setup.py README.md ./
COPY engine ./engine
COPY projections ./projections
COPY consumers ./consumers
RUN /opt/stockledger/bin/pip install --no-cache-dir .


FROM python:3.11-slim

RUN useradd --system --create-home --uid 10001 stockledger
COPY --from=build /opt/stockledger /opt/stockledger
ENV PATH=/opt/stockledger/bin:$PATH \
    PYTHONUNBUFFERED=1

USER stockledger
# The embedded store's default path (data/…) is relative: it lands in the home.
WORKDIR /home/stockledger
ENTRYPOINT ["stockledger"]
CMD ["--help"]
