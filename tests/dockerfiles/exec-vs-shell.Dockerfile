FROM busybox
RUN ["/bin/echo", "exec form"]
RUN echo shell form
RUN [ -d /tmp ] && echo brackets are shell form
CMD ["echo", "hello world"]
ENTRYPOINT ['/bin/sh', '-c']
ENTRYPOINT ["/bin/sh", "-c"]
