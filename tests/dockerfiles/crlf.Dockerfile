FROM busybox
RUN echo crlf \
    line
