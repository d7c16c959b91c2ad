"""Chapter 02's exercises, solved: a signed commit, exactly three layers, a new CMD from the cache.

For each exercise: the state the chapter leaves (not yet), a plausible wrong attempt (not yet), the solution (right).
"""

from pathlib import Path

from minidock import course
from solving import chapter, not_yet, right, sh

with chapter("02-building-images") as client:
    # 1. Before: no mine:commit.  Wrong: committed without an author and a message.  Right: with -a and -m.
    not_yet(course.check("02-building-images", 1, client))
    sh("minidock run --name writer busybox sh -c 'echo hi > /hello.txt'\n"
       "minidock commit writer mine:commit")
    not_yet(course.check("02-building-images", 1, client))
    sh('minidock commit -a "A Learner" -m "a file to say hi" writer mine:commit')
    right(course.check("02-building-images", 1, client))

    # 2. Before: no three:1.  Wrong: three RUN steps, every one a layer (4 in all).  Right: two RUNs and an ENV.
    not_yet(course.check("02-building-images", 2, client))
    Path("three").mkdir()
    Path("three/Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nRUN echo c > /c\n")
    sh("minidock build -q -t three:1 three")
    not_yet(course.check("02-building-images", 2, client))
    Path("three/Dockerfile").write_text("FROM busybox\nRUN echo a > /a\nENV STEP=2\nRUN echo b > /b\n")
    sh("minidock build -q -t three:1 three")
    right(course.check("02-building-images", 2, client))

    # 3. The chapter's sinatra as v4 (the changed app.rb).
    Path("sinatra").mkdir()
    Path("sinatra/app.rb").write_text("require 'sinatra'\nget('/') { 'hello, again' }\n")
    dockerfile = ("# This is a comment\nFROM busybox\nMAINTAINER Docker Newbee <newbee@docker.com>\n"
                  'RUN mkdir -p /opt/ruby && echo "ruby 3.1 (offline)" > /opt/ruby/VERSION\n'
                  'RUN mkdir -p /var/lib/gems && echo "sinatra (4.0.0)" > /var/lib/gems/installed\n'
                  "ADD app.rb /opt/sinatra/app.rb\n")
    Path("sinatra/Dockerfile").write_text(dockerfile + 'EXPOSE 4567\nCMD ["cat", "/opt/sinatra/app.rb"]\n')
    sh("cd sinatra && minidock build -q -t ouruser/sinatra:v4 .")
    # Before: no v5.  Wrong: the CMD and the EXPOSE line changed.  Right: only the CMD, then count.
    not_yet(course.check("02-building-images", 3, client, cached=None, shared_layers=None))
    Path("sinatra/Dockerfile").write_text(dockerfile + 'EXPOSE 8080\nCMD ["head", "-n", "1", "/opt/sinatra/app.rb"]\n')
    sh("cd sinatra && minidock build -q -t ouruser/sinatra:v5 .")
    not_yet(course.check("02-building-images", 3, client, cached=4, shared_layers=4))
    Path("sinatra/Dockerfile").write_text(dockerfile + 'EXPOSE 4567\nCMD ["head", "-n", "1", "/opt/sinatra/app.rb"]\n')
    cached = sh("cd sinatra && minidock build -t ouruser/sinatra:v5 .").count("Using cache")
    # Wrong: FROM counted as a cached step too.
    not_yet(course.check("02-building-images", 3, client, cached=cached + 1, shared_layers=4))
    shared = len(client.images.get("ouruser/sinatra:v5").attrs["RootFS"]["Layers"])
    right(course.check("02-building-images", 3, client, cached=cached, shared_layers=shared))
