FROM busybox
RUN echo one \
    two \
  three > /tmp/words
RUN echo a \

    b
LABEL description="joined \
across lines"
CMD echo \
done
