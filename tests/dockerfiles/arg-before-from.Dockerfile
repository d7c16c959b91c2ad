ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest}
ARG BASE
ARG GREETING=hello
RUN echo "$GREETING from $BASE" > /greeting
