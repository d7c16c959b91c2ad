FROM busybox AS Builder
RUN echo built > /artifact

FROM busybox as tester
RUN echo tested > /report

FROM busybox
COPY --from=builder /artifact /artifact
COPY --from=1 --chown=1:1 /report /report
CMD ["cat", "/artifact"]
