FROM busybox
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD wget -q -O- http://localhost/ || exit 1
HEALTHCHECK --start-period=5s CMD ["true"]
HEALTHCHECK NONE
