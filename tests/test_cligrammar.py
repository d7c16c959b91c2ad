"""docker's (pflag/cobra) command-line grammar: grouped flags, ``-t=V``, errors, help."""

import pytest

from minidock.cli.grammar import CommandParser, HelpShown, normalize_argv
from minidock.errors import UsageError


def run_parser():
    p = CommandParser("minidock run", "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                      "Create and run a new container from an image",
                      min_args=1, interspersed=False)
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("--rm", action="store_true", help="Remove the container when it exits")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-p", "--publish", action="append", default=[], help="Publish ports")
    p.add_argument("--name", help="Assign a name to the container")
    return p


def build_parser():
    p = CommandParser("minidock build", "[OPTIONS] PATH | URL | -",
                      "Build an image from a Dockerfile", min_args=1, max_args=1)
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the build output")
    return p


def commit_parser():
    p = CommandParser("minidock commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
                      "Create a new image from a container's changes", min_args=1, max_args=2)
    p.add_argument("-a", "--author", help='Author (e.g., "John Hannibal Smith")')
    p.add_argument("-m", "--message", help="Commit message")
    p.add_argument("-c", "--change", action="append", default=[],
                   help="Apply Dockerfile instruction to the created image")
    return p


def images_parser():
    p = CommandParser("minidock images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images",
                      max_args=1)
    p.add_argument("-a", "--all", action="store_true",
                   help="Show all images (default hides intermediate images)")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                   help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    return p


def stop_parser():
    p = CommandParser("minidock stop", "[OPTIONS] CONTAINER [CONTAINER...]",
                      "Stop one or more running containers", min_args=1)
    p.add_argument("-t", "--time", type=int, help="Seconds to wait before killing")
    p.add_argument("-s", "--signal", default="SIGTERM", help="Signal to send")
    return p


@pytest.mark.parametrize("argv, expected", [
    # the seed's commands
    (["-t", "-i", "ubuntu", "/bin/bash"], dict(tty=True, interactive=True,
                                               args=["ubuntu", "/bin/bash"])),
    (["-ti", "ubuntu", "/bin/bash"], dict(tty=True, interactive=True, detach=False)),
    (["-it", "ubuntu"], dict(tty=True, interactive=True)),
    (["-dit", "busybox"], dict(detach=True, tty=True, interactive=True)),
    # a value flag inside a group takes the rest, or the next word
    (["-dp", "8080:80", "nginx"], dict(detach=True, publish=["8080:80"], args=["nginx"])),
    (["-dp=8080:80", "nginx"], dict(detach=True, publish=["8080:80"])),
    (["-p8080:80", "-p", "443:443", "nginx"], dict(publish=["8080:80", "443:443"])),
    (["-e", "A=1", "--env", "B=2", "-e=C==3", "--env=D=4", "busybox"],
     dict(env=["A=1", "B=2", "C==3", "D=4"])),
    (["-e", "-x", "busybox"], dict(env=["-x"])),         # pflag takes the next word as is
    (["--name", "web", "busybox"], dict(name="web")),
    (["--name=", "busybox"], dict(name="")),
    # run stops at the image: the rest is the container's argv
    (["busybox", "ls", "-la"], dict(args=["busybox", "ls", "-la"], detach=False)),
    (["--rm", "busybox", "echo", "-t", "--name", "x"],
     dict(rm=True, tty=False, name=None, args=["busybox", "echo", "-t", "--name", "x"])),
    (["busybox", "sh", "-c", "echo a -- b"], dict(args=["busybox", "sh", "-c", "echo a -- b"])),
    (["--", "busybox", "-d"], dict(detach=False, args=["busybox", "-d"])),
    # booleans take Go's ParseBool values
    (["--rm=false", "busybox"], dict(rm=False)),
    (["--rm=true", "-d=1", "busybox"], dict(rm=True, detach=True)),
    (["-t=false", "busybox"], dict(tty=False)),
])
def test_run_grammar(argv, expected):
    parsed = run_parser().parse_args(argv)
    for key, value in expected.items():
        assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("argv, tags, args", [
    (["-t=ouruser/sinatra:v2", "."], ["ouruser/sinatra:v2"], ["."]),   # -t="ouruser/sinatra:v2"
    (["-t", "ouruser/sinatra:v2", "."], ["ouruser/sinatra:v2"], ["."]),
    (["--tag=a:1", "-t", "b:2", "-tc:3", "."], ["a:1", "b:2", "c:3"], ["."]),
    ([".", "-t", "late:1"], ["late:1"], ["."]),              # flags after positionals
    (["-qt", "x", "-"], ["x"], ["-"]),                       # "-" is a positional
])
def test_build_tags(argv, tags, args):
    parsed = build_parser().parse_args(argv)
    assert (parsed.tag, parsed.args) == (tags, args)


def test_commit_from_the_seed():
    argv = ["-m", "Added json gem", "-a", "Kate Smith", "0b2616b0e5a8", "ouruser/sinatra:v2"]
    parsed = commit_parser().parse_args(argv)
    assert (parsed.message, parsed.author) == ("Added json gem", "Kate Smith")
    assert parsed.args == ["0b2616b0e5a8", "ouruser/sinatra:v2"]


def test_repeated_change_flags():
    argv = ["-c", 'CMD ["/bin/sh"]', "--change", "ENV A=1", "--change=EXPOSE 80", "web"]
    assert commit_parser().parse_args(argv).change == ['CMD ["/bin/sh"]', "ENV A=1",
                                                       "EXPOSE 80"]


def test_images_flags_anywhere():
    parsed = images_parser().parse_args(["busybox", "-q", "--filter", "dangling=true"])
    assert (parsed.args, parsed.quiet, parsed.filter) == (["busybox"], True, ["dangling=true"])


def test_int_flags_are_converted():
    assert stop_parser().parse_args(["-t", "3", "web"]).time == 3
    assert stop_parser().parse_args(["web"]).signal == "SIGTERM"


@pytest.mark.parametrize("make, argv, message, hint", [
    (images_parser, ["--foo"], "unknown flag: --foo", "See 'minidock images --help'."),
    (images_parser, ["--verb"], "unknown flag: --verb", None),       # no abbreviations
    (images_parser, ["--quie"], "unknown flag: --quie", None),
    (images_parser, ["-z"], "unknown shorthand flag: 'z' in -z", None),
    (images_parser, ["-qz"], "unknown shorthand flag: 'z' in -z", None),
    (images_parser, ["-zq"], "unknown shorthand flag: 'z' in -zq", None),
    (images_parser, ["--format"], "flag needs an argument: --format", None),
    (images_parser, ["-f"], "flag needs an argument: 'f' in -f", None),
    (images_parser, ["-qf"], "flag needs an argument: 'f' in -f", None),
    (run_parser, ["--rm=maybe", "busybox"],
     'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": '
     "invalid syntax", "See 'minidock run --help'."),
    (stop_parser, ["-t", "x", "web"],
     'invalid argument "x" for "-t, --time" flag: strconv.ParseInt: parsing "x": '
     "invalid syntax", None),
])
def test_flag_errors(make, argv, message, hint):
    with pytest.raises(UsageError) as caught:
        make().parse_args(argv)
    assert str(caught.value) == message
    assert caught.value.exit_code == 125
    assert caught.value.hint.startswith(hint or "See '")
    assert "Usage:" not in caught.value.hint        # docker shows no usage for flag errors


def tag_parser():
    return CommandParser("minidock tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                         "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                         min_args=2, max_args=2)


@pytest.mark.parametrize("make, argv, message", [
    (tag_parser, ["a"], '"minidock tag" requires exactly 2 arguments.'),
    (tag_parser, ["a", "b", "c"], '"minidock tag" requires exactly 2 arguments.'),
    (images_parser, ["a", "b"], '"minidock images" requires at most 1 argument.'),
    (lambda: CommandParser("minidock rmi", "IMAGE [IMAGE...]", "Remove images", min_args=1),
     [], '"minidock rmi" requires at least 1 argument.'),
    (lambda: CommandParser("minidock ps", "[OPTIONS]", "List containers", max_args=0),
     ["x"], '"minidock ps" accepts no arguments.'),
    (commit_parser, [], '"minidock commit" requires at least 1 and at most 2 arguments.'),
    (lambda: CommandParser("minidock cp", "SRC DEST", "Copy", min_args=2, max_args=3),
     ["a"], '"minidock cp" requires at least 2 and at most 3 arguments.'),
])
def test_argument_counts(make, argv, message):
    with pytest.raises(UsageError) as caught:
        make().parse_args(argv)
    assert str(caught.value) == message


def test_argument_count_hint_shows_usage_like_docker():
    with pytest.raises(UsageError) as caught:
        tag_parser().parse_args(["a"])
    assert caught.value.hint == (
        "See 'minidock tag --help'.\n"
        "\n"
        "Usage:  minidock tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n"
        "\n"
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["busybox", "-qh"], ["a", "b", "--help"]])
def test_help_is_raised_not_printed(argv, capsys):
    with pytest.raises(HelpShown) as caught:
        images_parser().parse_args(argv)
    assert caught.value.exit_code == 0
    assert capsys.readouterr() == ("", "")
    assert caught.value.text == (
        "\n"
        "Usage:  minidock images [OPTIONS] [REPOSITORY[:TAG]]\n"
        "\n"
        "List images\n"
        "\n"
        "Options:\n"
        "  -a, --all             Show all images (default hides intermediate images)\n"
        "      --digests         Show digests\n"
        "  -f, --filter filter   Filter output based on conditions provided\n"
        "      --format string   Format output using a custom template\n"
        "  -q, --quiet           Only show image IDs\n")


def test_help_shows_value_types_and_defaults():
    assert "  -e, --env list       Set environment variables\n" in run_parser().format_help()
    assert stop_parser().format_help().endswith(
        "Options:\n"
        "  -s, --signal string   Signal to send (default \"SIGTERM\")\n"
        "  -t, --time int        Seconds to wait before killing\n")


def test_help_after_the_image_belongs_to_the_container():
    assert run_parser().parse_args(["busybox", "ls", "--help"]).args == ["busybox", "ls",
                                                                         "--help"]


VALUE_FLAGS = {"-t", "--tag", "-e", "--env", "-p"}


@pytest.mark.parametrize("argv, interspersed, tokens", [
    (["-t=ouruser/sinatra:v2", "."], True, ["-t=ouruser/sinatra:v2", "--", "."]),
    (["-ti", "ubuntu"], True, ["-t=i", "--", "ubuntu"]),    # -t takes a value here
    (["-di", "ubuntu"], True, ["-d", "-i", "--", "ubuntu"]),
    (["-dp", "80:80", "x"], True, ["-d", "-p=80:80", "--", "x"]),
    (["-dp=80:80"], True, ["-d", "-p=80:80", "--"]),
    (["-d=false"], True, ["-d=false", "--"]),
    (["--tag", "-x", "--all"], True, ["--tag=-x", "--all", "--"]),
    (["--env=A=B"], True, ["--env=A=B", "--"]),
    (["a", "-d", "b"], True, ["-d", "--", "a", "b"]),
    (["a", "-d", "b"], False, ["--", "a", "-d", "b"]),
    (["-d", "--", "-e", "x"], True, ["-d", "--", "-e", "x"]),
    (["-", "-d"], False, ["--", "-", "-d"]),
    ([], True, ["--"]),
])
def test_normalize_argv(argv, interspersed, tokens):
    assert normalize_argv(argv, VALUE_FLAGS, interspersed=interspersed) == tokens


def test_normalize_argv_checks_known_flags():
    with pytest.raises(UsageError, match="unknown flag: --nope"):
        normalize_argv(["--nope"], VALUE_FLAGS, {"-d", "--tag"})
    with pytest.raises(UsageError, match="unknown shorthand flag: 'x' in -x"):
        normalize_argv(["-dx"], VALUE_FLAGS, {"-d"})
