"""The Dockerfile parser and Docker's word expansion, rule by rule (moby/buildkit's behaviour)."""

from pathlib import Path

import pytest

from minidock.build.dockerfile import DockerfileError, expand, expand_words, key_values, parse

CORPUS = Path(__file__).parent / "dockerfiles"

SEED = """\
# This is a comment
FROM ubuntu:14.04
MAINTAINER Docker Newbee <newbee@docker.com>
RUN apt-get -qq update
RUN apt-get -qqy install \\
    ruby ruby-dev
RUN gem install sinatra
"""


def rows(dockerfile):
    """(cmd, args, flags, line) of every instruction, meta ARGs first; JSON args as a list."""
    instructions = dockerfile.meta_args + tuple(i for s in dockerfile.stages for i in s.instructions)
    return [(i.cmd, list(i.args) if i.json else i.args, i.flags, i.line) for i in instructions]


def test_the_seed_example():
    df = parse(SEED)
    assert rows(df) == [
        ("FROM", ("ubuntu:14.04",), {}, 2),
        ("MAINTAINER", ("Docker Newbee <newbee@docker.com>",), {}, 3),
        ("RUN", ("apt-get -qq update",), {}, 4),
        ("RUN", ("apt-get -qqy install     ruby ruby-dev",), {}, 5),
        ("RUN", ("gem install sinatra",), {}, 7),
    ]
    (stage,) = df.stages
    assert (stage.index, stage.name, stage.base, stage.platform) == (0, None, "ubuntu:14.04", None)
    assert stage.instructions[3].original == "RUN apt-get -qqy install     ruby ruby-dev"
    assert (df.filename, df.escape, df.directives, df.meta_args) == ("Dockerfile", "\\", {}, ())


# Each file of tests/dockerfiles/ and what Docker's parser makes of it.
EXPECTED = {
    "continuations": [
        ("FROM", ("busybox",), {}, 1),
        ("RUN", ("echo one     two   three > /tmp/words",), {}, 2),
        ("RUN", ("echo a     b",), {}, 5),                      # an empty continuation line is skipped
        ("LABEL", ('description="joined across lines"',), {}, 8),
        ("CMD", ("echo done",), {}, 10),
    ],
    "crlf": [("FROM", ("busybox",), {}, 1), ("RUN", ("echo crlf     line",), {}, 2)],
    "escape-backtick": [
        ("FROM", ("busybox",), {}, 2),
        ("RUN", ("echo C:\\windows\\path > /backslashes",), {}, 3),
        ("RUN", ("echo a     b",), {}, 4),
        ("ENV", ("DIR=C:\\data    MORE=x",), {}, 6),
    ],
    "exec-vs-shell": [
        ("FROM", ("busybox",), {}, 1),
        ("RUN", ["/bin/echo", "exec form"], {}, 2),
        ("RUN", ("echo shell form",), {}, 3),
        ("RUN", ("[ -d /tmp ] && echo brackets are shell form",), {}, 4),
        ("CMD", ["echo", "hello world"], {}, 5),
        ("ENTRYPOINT", ("['/bin/sh', '-c']",), {}, 6),          # not JSON: single quotes
        ("ENTRYPOINT", ["/bin/sh", "-c"], {}, 7),
    ],
    "env": [
        ("FROM", ("busybox",), {}, 1),
        ("ENV", ("ONE=1",), {}, 2),
        ("ENV", ('TWO=2 THREE="three and more" FOUR=four\\ too',), {}, 3),
        ("ENV", ("LEGACY value with   spaces",), {}, 4),
        ("ENV", ("FROM_ONE=$ONE FROM_TWO=${TWO}",), {}, 5),
        ("ENV", ("ONE=one ECHO=$ONE",), {}, 6),
        ("CMD", ("env",), {}, 7),
    ],
    "label": [
        ("FROM", ("busybox",), {}, 1),
        ("LABEL", ('version="1.0" maintainer="Docker Newbee <newbee@docker.com>"',), {}, 2),
        ("LABEL", ("\"com.example.quoted key\"='single quoted $NOT_EXPANDED'",), {}, 3),
        ("LABEL", ("multi.one=1       multi.two=2",), {}, 4),
        ("LABEL", ("legacy label value",), {}, 6),
    ],
    "arg-before-from": [
        ("ARG", ("BASE=busybox",), {}, 1),
        ("ARG", ("TAG",), {}, 2),
        ("FROM", ("${BASE}:${TAG:-latest}",), {}, 3),
        ("ARG", ("BASE",), {}, 4),
        ("ARG", ("GREETING=hello",), {}, 5),
        ("RUN", ('echo "$GREETING from $BASE" > /greeting',), {}, 6),
    ],
    "multistage": [
        ("FROM", ("busybox AS Builder",), {}, 1),
        ("RUN", ("echo built > /artifact",), {}, 2),
        ("FROM", ("busybox as tester",), {}, 4),
        ("RUN", ("echo tested > /report",), {}, 5),
        ("FROM", ("busybox",), {}, 7),
        ("COPY", ("/artifact /artifact",), {"from": "builder"}, 8),
        ("COPY", ("/report /report",), {"from": "1", "chown": "1:1"}, 9),
        ("CMD", ["cat", "/artifact"], {}, 10),
    ],
    "healthcheck": [
        ("FROM", ("busybox",), {}, 1),
        ("HEALTHCHECK", ("CMD", "wget -q -O- http://localhost/ || exit 1"),
         {"interval": "30s", "timeout": "3s", "retries": "3"}, 2),
        ("HEALTHCHECK", ["CMD", "true"], {"start-period": "5s"}, 3),
        ("HEALTHCHECK", ("NONE",), {}, 4),
    ],
    "onbuild": [
        ("FROM", ("busybox",), {}, 1),
        ("ONBUILD", ("RUN echo triggered > /onbuild",), {}, 2),
        ("ONBUILD", ("COPY --chown=1:1 . /app",), {}, 3),        # the trigger keeps its own flags
        ("ONBUILD", ("ENV ONBUILT=yes",), {}, 4),
    ],
    "shell": [
        ("FROM", ("busybox",), {}, 1),
        ("SHELL", ["/bin/sh", "-e", "-c"], {}, 2),
        ("RUN", ('echo "via the new shell"',), {}, 3),
        ("CMD", ("echo shell form uses SHELL too",), {}, 4),
    ],
    "expose": [
        ("FROM", ("busybox",), {}, 1),
        ("EXPOSE", ("80",), {}, 2),
        ("EXPOSE", ("443/tcp 53/udp",), {}, 3),
        ("EXPOSE", ("7000-7002 9000-9001/udp",), {}, 4),
        ("EXPOSE", ("${PORT:-8080}",), {}, 5),
    ],
    "comments-in-continuation": [
        ("FROM", ("busybox",), {}, 1),
        ("RUN", ("echo first     second     third",), {}, 3),
        ("RUN", ("echo 'a # is not a comment here'",), {}, 8),
        ("STOPSIGNAL", ("SIGTERM",), {}, 10),
        ("USER", ("nobody",), {}, 11),
    ],
}


def test_the_corpus_is_covered():
    assert sorted(p.name.removesuffix(".Dockerfile") for p in CORPUS.glob("*.Dockerfile")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name):
    path = CORPUS / f"{name}.Dockerfile"
    df = parse(path.read_bytes().decode(), path.name)
    assert rows(df) == EXPECTED[name]
    assert all(s.instructions[0].cmd == "FROM" for s in df.stages)


def test_corpus_stages_and_directives():
    df = parse((CORPUS / "multistage.Dockerfile").read_text())
    assert [(s.index, s.name, s.base) for s in df.stages] == [(0, "builder", "busybox"), (1, "tester", "busybox"),
                                                               (2, None, "busybox")]
    assert [len(s.instructions) for s in df.stages] == [2, 2, 4]
    df = parse((CORPUS / "arg-before-from.Dockerfile").read_text())
    assert [i.args for i in df.meta_args] == [("BASE=busybox",), ("TAG",)]
    assert df.stages[0].base == "${BASE}:${TAG:-latest}"           # the builder expands it with the meta ARGs
    df = parse((CORPUS / "escape-backtick.Dockerfile").read_text())
    assert (df.escape, df.directives) == ("`", {"escape": "`"})


def test_directives():
    df = parse("# Syntax = docker/dockerfile:1\n#ESCAPE=`\nFROM busybox\nRUN a `\n b\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert df.stages[0].instructions[1].args == ("a  b",)
    # after a blank line, a comment, or an unknown directive, they are plain comments
    for before in ("\n", "# hello\n", "# foo=bar\n"):
        df = parse(before + "# escape=`\nFROM busybox\nRUN a \\\n b\n")
        assert (df.escape, df.stages[0].instructions[1].args) == ("\\", ("a  b",))


def test_original_and_forms():
    df = parse("from busybox\nrun   echo   hi  \nCmd [\"a\"] trailing text\nCMD []\n"
               "COPY [\"a b\", \"/c\"]\nVOLUME /a /b\nVOLUME [\"/c\"]\nFROM --platform=linux/amd64 busybox AS x\n")
    i = df.stages[0].instructions
    assert [x.cmd for x in i] == ["FROM", "RUN", "CMD", "CMD", "COPY", "VOLUME", "VOLUME"]
    assert (i[1].args, i[1].original) == (("echo   hi",), "run   echo   hi")
    assert (i[2].args, i[2].json) == (("a",), True)                 # Docker reads one JSON value
    assert (i[3].args, i[3].json) == ((), True)
    assert (i[4].args, i[5].args, i[6].args) == (("a b", "/c"), ("/a /b",), ("/c",))
    assert (df.stages[1].platform, df.stages[1].name) == ("linux/amd64", "x")


def test_flags():
    df = parse('FROM busybox\nCOPY --link --chmod=644 --chown="1:2" a b\nADD --checksum=sha256:ab x y\n'
               "COPY -- --from=x b\n")
    i = df.stages[0].instructions
    assert i[1].flags == {"link": "", "chmod": "644", "chown": "1:2"}
    assert i[1].args == ("a b",)
    assert parse('FROM busybox\nCOPY "--from=x" a').stages[0].instructions[1].args == ('"--from=x" a',)
    assert i[2].flags == {"checksum": "sha256:ab"}
    assert (i[3].flags, i[3].args) == ({}, ("--from=x b",))


# --- expansion --------------------------------------------------------------------------------

ENV = {"A": "a", "EMPTY": "", "SPACED": "x  y"}


@pytest.mark.parametrize("word, expected", [
    ("$A", "a"), ("${A}", "a"), ("pre${A}post", "preapost"), ("$Apost", ""), ("$UNSET", ""),
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${A:-d}", "a"),
    ("${UNSET-d}", "d"), ("${EMPTY-d}", ""), ("${A-d}", "a"),
    ("${UNSET:+alt}", ""), ("${EMPTY:+alt}", ""), ("${A:+alt}", "alt"),
    ("${UNSET+alt}", ""), ("${EMPTY+alt}", "alt"), ("${A+alt}", "alt"),
    ("${UNSET:-$A}", "a"), ("${UNSET:-'q x'}", "q x"), ("${A?oops}", "a"),
    ("'$A'", "$A"), ('"$A"', "a"), ('"a  b"', "a  b"), ("a  b", "a  b"),
    ("\\$A", "$A"), ('"\\$A"', "$A"), ('"\\"q"', '"q'), ('"\\n"', "\\n"), ("\\n", "n"),
    ("$", "$"), ("a$", "a$"), ("$ x", "$ x"), ("$1", ""), ("end\\", "end"),
    ('"it\'s"', "it's"), ("'a\"b'", 'a"b'),
])
def test_expand(word, expected):
    assert expand(word, ENV) == expected


def test_expand_backtick_escape():
    assert expand("C:\\dir`$A", ENV, "`") == "C:\\dir$A"
    assert expand('"`"q"', ENV, "`") == '"q'


@pytest.mark.parametrize("word, message", [
    ("${A#a}", "unsupported modifier (#) in substitution"),
    ("${A%a}", "unsupported modifier (%) in substitution"),
    ("${A/a/b}", "unsupported modifier (/) in substitution"),
    ("${A:x}", "unsupported modifier (:x) in substitution"),
    ("${UNSET?must be set}", "UNSET: must be set"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${}", "syntax error: bad substitution"),
    ("${A", "syntax error: missing '}'"),
    ("${A:-x", "unexpected end of statement while looking for matching }"),
    ("'open", "looking for matching single-quote"),
    ('"open', "looking for matching double-quote"),
])
def test_expand_errors(word, message):
    with pytest.raises(ValueError, match="failed to process") as e:
        expand(word, ENV)
    assert message in str(e.value) and not isinstance(e.value, DockerfileError)


def test_expand_words():
    assert expand_words("80 443/tcp  ${A}", ENV) == ["80", "443/tcp", "a"]
    assert expand_words("$SPACED \"$SPACED\" 'b c' d\\ e", ENV) == ["x", "y", "x  y", "b c", "d e"]
    assert expand_words('  "" $UNSET  ', ENV) == []
    assert expand_words("a${UNSET}b", ENV) == ["ab"]


def test_key_values():
    assert key_values('k=v k2="a b" k3=\'$A\' k4=$A k5=x\\ y', ENV) == [
        ("k", "v"), ("k2", "a b"), ("k3", "$A"), ("k4", "a"), ("k5", "x y")]
    assert key_values("KEY value with   spaces \"q\"", ENV) == [("KEY", "value with   spaces q")]
    assert key_values("$A=1 B=", ENV) == [("a", "1"), ("B", "")]
    # every pair sees the env from before the instruction
    assert key_values("A=new B=$A", ENV) == [("A", "new"), ("B", "a")]
    assert key_values("NAME V=${A}1 W", ENV, legacy_env=False) == [("NAME", None), ("V", "a1"), ("W", None)]
    assert key_values("K=`$A", ENV, "`") == [("K", "$A")]


@pytest.mark.parametrize("text, legacy, message", [
    ("a=1 b", True, 'Syntax error - can\'t find = in "b". Must be of the form: name=value'),
    ("alone", True, "ENV must have two arguments"),
    ("=v", True, "ENV names can not be blank"),
    ("=v", False, "ARG names can not be blank"),
])
def test_key_values_errors(text, legacy, message):
    with pytest.raises(ValueError) as e:
        key_values(text, ENV, legacy_env=legacy)
    assert str(e.value).startswith(message)


# --- errors: file:line: message ---------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("FROM busybox\n\nRUNN echo", "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"),
    ("FROM busybox\ncopyy a b", "Dockerfile:2: unknown instruction: copyy (did you mean COPY?)"),
    ("FROM busybox\nFOO bar", "Dockerfile:2: unknown instruction: FOO"),
    ("# comment\nRUN echo", "Dockerfile:2: RUN before the first FROM: no build stage in current context "
                            "(only ARG may come before FROM)"),
    ("FROM busybox\nRUN", "Dockerfile:2: RUN requires at least one argument"),
    ("FROM busybox\nRUN   \\\n  ", "Dockerfile:2: RUN requires at least one argument"),
    ("FROM busybox\nCMD", "Dockerfile:2: CMD requires at least one argument"),
    ("FROM busybox\nEXPOSE", "Dockerfile:2: EXPOSE requires at least one argument"),
    ("FROM busybox\nWORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument"),
    ("FROM busybox\nCOPY a", "Dockerfile:2: COPY requires at least two arguments, but only one was provided. "
                             "Destination could not be determined"),
    ("FROM busybox\nENV A=1 B", "Dockerfile:2: Syntax error - can't find = in \"B\". Must be of the form: name=value"),
    ("FROM busybox\nENV A", "Dockerfile:2: ENV must have two arguments: ENV KEY=VALUE ... or ENV KEY VALUE"),
    ("FROM busybox\nLABEL =x", "Dockerfile:2: LABEL names can not be blank"),
    ("FROM busybox\nENV", "Dockerfile:2: ENV requires at least one argument"),
    ("FROM busybox AS a\nFROM busybox AS A", 'Dockerfile:2: duplicate stage name "a" (first used on line 1)'),
    ("FROM busybox AS 1x", 'Dockerfile:1: invalid name for build stage: "1x", '
                           "name can't start with a number or contain symbols"),
    ("FROM busybox AS", "Dockerfile:1: FROM requires either one or three arguments: "
                        "FROM [--platform=P] IMAGE [AS NAME]"),
    ("", "Dockerfile:1: the Dockerfile has no instructions"),
    ("# only\n\n# comments\n", "Dockerfile:3: the Dockerfile has no instructions"),
    ("ARG A=1\n", "Dockerfile:1: the Dockerfile has no FROM instruction"),
    ("FROM busybox\nCOPY --foo a b", "Dockerfile:2: unknown flag: --foo (COPY accepts --chown, --chmod, --from, --link)"),
    ("FROM busybox\nENV --foo a=b", "Dockerfile:2: unknown flag: --foo (ENV takes no flags)"),
    ("FROM busybox\nCOPY --from a b", "Dockerfile:2: missing a value on flag: --from"),
    ("FROM busybox\nCOPY --from=a --from=b a b", "Dockerfile:2: duplicate flag specified: --from"),
    ("FROM busybox\nCOPY --link=maybe a b", "Dockerfile:2: expecting a boolean value for flag --link, not: 'maybe'"),
    ("FROM busybox\nRUN --mount=type=cache,target=/c true",
     "Dockerfile:2: RUN --mount is not supported by minidock (a BuildKit extension)"),
    ("FROM busybox\nRUN <<EOF\necho hi\nEOF", "Dockerfile:2: RUN with a heredoc (<<) is not supported by minidock: "
                                             "put the text in a file in the build context and COPY it"),
    ("FROM busybox\nCOPY <<-\"EOT\" /x", "Dockerfile:2: COPY with a heredoc (<<) is not supported by minidock: "
                                        "put the text in a file in the build context and COPY it"),
    ("FROM busybox\nSHELL /bin/sh -c", 'Dockerfile:2: SHELL requires the arguments to be in JSON form, '
                                       'e.g. SHELL ["/bin/sh", "-c"]'),
    ("FROM busybox\nSHELL []", "Dockerfile:2: SHELL requires at least one argument"),
    ("FROM busybox\nCMD [\"a\", 1]", "Dockerfile:2: when using JSON array syntax, arrays must be comprised "
                                     "of strings only"),
    ("FROM busybox\nVOLUME [\"\"]", "Dockerfile:2: VOLUME specified can not be an empty string"),
    ("FROM busybox\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
    ("FROM busybox\nHEALTHCHECK --retries=1 NONE", "Dockerfile:2: unknown flag: --retries (HEALTHCHECK NONE takes no flags)"),
    ("FROM busybox\nHEALTHCHECK CMD", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
    ("FROM busybox\nHEALTHCHECK RUN x", 'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("FROM busybox\nONBUILD ONBUILD RUN x", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM busybox\nONBUILD from busybox", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM busybox\nONBUILD MAINTAINER me", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("# escape=x\nFROM busybox", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# escape=\\\nFROM busybox", "Dockerfile:2: only one escape parser directive can be used"),
])
def test_errors(text, message):
    with pytest.raises(DockerfileError) as e:
        parse(text)
    assert str(e.value) == message
    assert e.value.exit_code == 1


def test_error_names_the_file():
    with pytest.raises(DockerfileError) as e:
        parse("FROM busybox\n\n\nRUNN x", "app/Dockerfile.dev")
    assert (str(e.value), e.value.filename, e.value.line) == (
        "app/Dockerfile.dev:4: unknown instruction: RUNN (did you mean RUN?)", "app/Dockerfile.dev", 4)
