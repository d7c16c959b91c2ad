FROM busybox
LABEL version="1.0" maintainer="Docker Newbee <newbee@docker.com>"
LABEL "com.example.quoted key"='single quoted $NOT_EXPANDED'
LABEL multi.one=1 \
      multi.two=2
LABEL legacy label value
