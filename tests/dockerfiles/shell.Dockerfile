FROM busybox
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "via the new shell"
CMD echo shell form uses SHELL too
