FROM busybox
# a comment before an instruction
RUN echo first \
# a comment inside the continuation is dropped
    second \
    # an indented one too
    third
RUN echo 'a # is not a comment here'
   # indented comment line
STOPSIGNAL SIGTERM
USER nobody
