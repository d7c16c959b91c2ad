FROM busybox
ONBUILD RUN echo triggered > /onbuild
ONBUILD COPY --chown=1:1 . /app
ONBUILD ENV ONBUILT=yes
