"""Chapter 02's exercises, solved: a signed commit, exactly three layers, a new CMD from the cache."""

from pathlib import Path

from minidock import course
from solving import chapter, right, sh

with chapter("02-building-images") as client:
    # 1. A commit with an author and a message.
    sh("minidock run --name writer busybox sh -c 'echo hi > /hello.txt'\n"
       'minidock commit -a "A Learner" -m "a file to say hi" writer mine:commit')
    right(course.check("02-building-images", 1, client))

    # 2. busybox's layer, two RUN layers, and an ENV that changes only the config.
    Path("three").mkdir()
    Path("three/Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nENV STEP=2\nRUN echo b > /b\n")
    sh("minidock build -q -t three:1 three")
    right(course.check("02-building-images", 2, client))

    # 3. The chapter's sinatra as v4 (the changed app.rb), then only the CMD changed: v5.
    Path("sinatra").mkdir()
    Path("sinatra/app.rb").write_text("require 'sinatra'\nget('/') { 'hello, again' }\n")
    dockerfile = ("FROM busybox\nMAINTAINER Docker Newbee <newbee@docker.com>\n"
                  'RUN mkdir -p /opt/ruby && echo "ruby 3.1 (offline)" > /opt/ruby/VERSION\n'
                  'RUN mkdir -p /var/lib/gems && echo "sinatra (4.0.0)" > /var/lib/gems/installed\n'
                  "ADD app.rb /opt/sinatra/app.rb\nEXPOSE 4567\n")
    Path("sinatra/Dockerfile").write_text(dockerfile + 'CMD ["cat", "/opt/sinatra/app.rb"]\n')
    sh("cd sinatra && minidock build -q -t ouruser/sinatra:v4 .")
    Path("sinatra/Dockerfile").write_text(dockerfile + 'CMD ["head", "-n", "1", "/opt/sinatra/app.rb"]\n')
    cached = sh("cd sinatra && minidock build -t ouruser/sinatra:v5 .").count("Using cache")
    right(course.check("02-building-images", 3, client, cached=cached))
