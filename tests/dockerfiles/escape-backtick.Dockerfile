# escape=`
FROM busybox
RUN echo C:\windows\path > /backslashes
RUN echo a `
    b
ENV DIR=C:\data`
    MORE=x
