FROM busybox
ENV ONE=1
ENV TWO=2 THREE="three and more" FOUR=four\ too
ENV LEGACY value with   spaces
ENV FROM_ONE=$ONE FROM_TWO=${TWO}
ENV ONE=one ECHO=$ONE
CMD env
