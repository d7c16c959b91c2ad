"""Go's text/template subset behind ``--format``: fields, printing, functions, blocks."""

from dataclasses import dataclass

import pytest

from minidock.errors import APIError
from minidock.cli.template import HEADER_FUNCTIONS, is_table, render, strip_table

CONTAINER = {
    "Id": "4c01db0b339c8a0c4c4a3bdf5e8e1f8b9fb6b0b1d62f5e2a7b8d6c9e0f1a2b3c",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0,
              "Health": None},
    "Config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin", "A=1"],
               "Labels": {"version": "2", "maintainer": "kate"}, "Image": "busybox"},
    "NetworkSettings": {"IPAddress": "172.17.0.2",
                        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
    "Mounts": [],
    "SizeRw": 1.5,
}


@pytest.mark.parametrize("template, text", [
    # the seed's commands
    ("{{ .State.Pid }}", "4242"),
    ("{{.NetworkSettings.IPAddress}}", "172.17.0.2"),
    ("{{json .Config.Cmd}}", '["/bin/sh"]'),
    # fields, spaces, literal text
    ("{{.Name}}", "/web"),
    ("pid={{.State.Pid}} ip={{ .NetworkSettings.IPAddress }}.", "pid=4242 ip=172.17.0.2."),
    ("{{.Config.Image}}", "busybox"),
    ("no actions at all", "no actions at all"),
    ("", ""),
    # Go's default printing
    ("{{.Config.Cmd}}", "[/bin/sh]"),
    ("{{.Config.Env}}", "[PATH=/usr/bin A=1]"),
    ("{{.Config.Labels}}", "map[maintainer:kate version:2]"),
    ("{{.Mounts}}", "[]"),
    ("{{.State.Running}}", "true"),
    ("{{.State.Health}}", "<nil>"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Missing.Deeper}}", "<no value>"),
    ("{{.SizeRw}}", "1.5"),
    ("{{.NetworkSettings.Ports}}", "map[80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]]]"),
    # json is compact, keeps the data's key order, and (docker: SetEscapeHTML(false))
    # leaves < > & alone
    ("{{json .Config.Labels}}", '{"version":"2","maintainer":"kate"}'),
    ("{{json .State.Health}}", "null"),
    ("{{json .Missing}}", "null"),
    ("{{json .State}}",
     '{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"Health":null}'),
])
def test_fields_and_printing(template, text):
    assert render(template, CONTAINER) == text


@pytest.mark.parametrize("data, text", [
    ("abc", "abc"),
    (42, "42"),
    (True, "true"),
    (False, "false"),
    (None, "<nil>"),
    (1.0, "1"),
    (0.5, "0.5"),
    (123456.0, "123456"),
    (1e6, "1e+06"),
    (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (-2.5, "-2.5"),
    (["a", "b", "c"], "[a b c]"),
    ([1, [2, 3], None], "[1 [2 3] <nil>]"),
    ({"k2": "v2", "k": "v"}, "map[k:v k2:v2]"),
    ({}, "map[]"),
])
def test_dot_prints_like_go(data, text):
    assert render("{{.}}", data) == text


@pytest.mark.parametrize("template, text", [
    ('{{json "a<b>&c"}}', '"a<b>&c"'),
    ('{{json "\u2028"}}', '"\\u2028"'),
    ("{{upper .Config.Image}}", "BUSYBOX"),
    ('{{lower "ABC"}}', "abc"),
    ('{{title "hello wORLD"}}', "Hello WORLD"),
    ('{{join .Config.Env ","}}', "PATH=/usr/bin,A=1"),
    ('{{split "a:b:c" ":"}}', "[a b c]"),
    ('{{index .Config.Labels "version"}}', "2"),
    ('{{index .Config.Labels "nope"}}', "<nil>"),
    ("{{index .Config.Env 1}}", "A=1"),
    ('{{index .NetworkSettings.Ports "80/tcp" 0 "HostPort"}}', "8080"),
    ("{{len .Config.Env}}", "2"),
    ("{{len .Name}}", "4"),
    ("{{println .Name}}", "/web\n"),
    ("{{print .State.Pid .State.ExitCode}}", "4242 0"),
    ('{{print "a" "b" 1}}', "ab1"),
    ('{{printf "%s" .Name}}', "/web"),
    ('{{printf "%d" .State.Pid}}', "4242"),
    ('{{printf "%v|%v" .Config.Cmd .State.Running}}', "[/bin/sh]|true"),
    ('{{printf "%q" .Name}}', '"/web"'),
    ('{{printf "%-6s|%6s|" "ab" "cd"}}', "ab    |    cd|"),
    ('{{printf "%05d %.2f %x %%" 42 3.14159 255}}', "00042 3.14 ff %"),
    ('{{printf "%.12s" .Id}}', "4c01db0b339c"),
    ('{{printf "%d" .Name}}', "%!d(string=/web)"),
    ('{{printf "%s %s" .Name}}', "/web %!s(MISSING)"),
    ('{{pad .Name 1 2}}', " /web  "),
    ('{{pad "" 1 2}}', ""),
    ("{{truncate .Id 12}}", "4c01db0b339c"),
    ('{{eq .State.Status "running"}}', "true"),
    ('{{eq .State.Status "exited" "running"}}', "true"),
    ("{{ne .State.ExitCode 0}}", "false"),
    ("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 3 2}}", "true true false true"),
    ('{{and .State.Running "yes"}}', "yes"),
    ('{{or .Missing "default"}}', "default"),
    ("{{not .State.Running}}", "false"),
    # pipelines, parentheses, literals
    ("{{.Config.Image | upper}}", "BUSYBOX"),
    ("{{.Config.Env | len}}", "2"),                # the piped value is the last argument
    ('{{.Name | printf "name=%s"}}', "name=/web"),
    ("{{len (index .NetworkSettings.Ports \"80/tcp\")}}", "1"),
    ('{{(index .NetworkSettings.Ports "80/tcp" 0).HostPort}}', "8080"),
    ('{{"quoted \\"string\\"\\t"}}', 'quoted "string"\t'),
    ("{{`raw \\t`}}", "raw \\t"),
    ("{{3}} {{-1}} {{1.5}} {{true}} {{nil}}", "3 -1 1.5 true <nil>"),
])
def test_functions(template, text):
    assert render(template, CONTAINER) == text


@pytest.mark.parametrize("template, text", [
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .State.ExitCode}}failed{{else}}ok{{end}}", "ok"),
    ("{{if .Missing}}x{{end}}", ""),
    ("{{if .Mounts}}mounts{{else if .Config.Env}}env{{else}}none{{end}}", "env"),
    ('{{if eq .State.Status "exited"}}E{{else if eq .State.Status "running"}}R{{end}}', "R"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[PATH=/usr/bin][A=1]"),
    ("{{range .Mounts}}x{{else}}no mounts{{end}}", "no mounts"),
    ("{{range .Missing}}x{{end}}", ""),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "maintainer=kate version=2 "),
    ("{{range $i, $e := .Config.Cmd}}{{$i}}:{{$e}}{{end}}", "0:/bin/sh"),
    ("{{range $e := .Config.Env}}<{{$e}}>{{end}}", "<PATH=/usr/bin><A=1>"),
    ("{{range .Config.Env}}{{$.Name}}{{end}}", "/web/web"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    # docker's inspect documentation
    ("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}",
     " 80/tcp -> 8080 "),
    ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/4242"),
    ("{{with .Mounts}}x{{else}}empty{{end}}", "empty"),
    ("{{$id := .Id}}{{truncate $id 4}}", "4c01"),
    ("a  {{- .Config.Image -}}  b", "abusyboxb"),
    ("a {{- /* a comment */ -}} b", "ab"),
    ("a{{/* a comment */}}b", "ab"),
    ("{{range .Config.Env -}}\n  {{.}}\n{{end}}", "PATH=/usr/bin\nA=1\n"),
])
def test_blocks(template, text):
    assert render(template, CONTAINER) == text


@dataclass
class Image:
    Repository: str
    Tag: str
    ID: str
    Size: int

    def Short(self):
        return self.ID[:4]


def test_fields_of_objects_and_niladic_methods():
    image = Image("busybox", "latest", "6fd955f66c23", 4_263_520)
    assert render("{{.Repository}}:{{.Tag}} {{.Short}} {{.Size}}", image) == "busybox:latest 6fd9 4263520"
    assert render("{{json .}}", image) == (
        '{"Repository":"busybox","Tag":"latest","ID":"6fd955f66c23","Size":4263520}')


@pytest.mark.parametrize("template, message", [
    ("{{.Name.Foo}}",
     'template: :1:2: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type string'),
    ("x\n  {{.State.Health.Status}}", 'template: :2:4: executing "" at <.State.Health.Status>: '
     "nil pointer evaluating interface {}.Status"),
    ("{{.State.Pid.X}}", "can't evaluate field X in type int"),
    ('{{join .Config.Env}}', "wrong number of args for join: want 2 got 1"),
    ("{{len .State.Pid}}", "error calling len: len of type int"),
    ("{{index .Config.Env 5}}", "error calling index: index out of range: 5"),
    ("{{.Name 3}}", "can't give argument to non-function"),
    ("{{$nope}}", 'undefined variable "$nope"'),
    ("{{range .Name}}x{{end}}", "range can't iterate over /web"),
    ("{{foo .Id}}", 'template parsing error: template: :1: function "foo" not defined'),
    ("{{if .Id}}open", "template parsing error: template: :1: unexpected EOF"),
    ("{{end}}", "template parsing error: template: :1: unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{.Id", "template parsing error: template: :1: unclosed action"),
    ("{{.Id | }}", "missing command"),
    ("{{(.Id}}", 'unclosed "("'),
    ("{{.Id ; }}", "unexpected ';' in command"),
    ('{{template "x"}}', "{{template}} is not supported by minidock"),
])
def test_errors(template, message):
    with pytest.raises(APIError) as caught:
        render(template, CONTAINER)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_key_error_is_docker_inspect_behaviour():
    assert render("{{.Nope}}", CONTAINER) == "<no value>"
    with pytest.raises(APIError, match='at <.Nope>: map has no entry for key "Nope"'):
        render("{{.Nope}}", CONTAINER, missing_key="error")


@pytest.mark.parametrize("template, table, body", [
    ("table {{.Repository}}\\t{{.Tag}}", True, "{{.Repository}}\t{{.Tag}}"),
    ("table", True, ""),
    ("{{.ID}}\\n", False, "{{.ID}}\n"),
    ("  {{.ID}}: {{.Command}}  ", False, "{{.ID}}: {{.Command}}"),
    ("{{json .}}", False, "{{json .}}"),
])
def test_table_prefix_and_escapes(template, table, body):
    assert is_table(template) is table
    assert strip_table(template) == body


def test_header_functions_keep_column_names():
    body = strip_table("table {{.Repository}}\\t{{upper .Tag}}\\t{{json .Size}}\\t{{join .Env \",\"}}")
    headings = {"Repository": "REPOSITORY", "Tag": "TAG", "Size": "SIZE", "Env": "ENV"}
    assert render(body, headings, functions=HEADER_FUNCTIONS) == "REPOSITORY\tTAG\tSIZE\tENV"
    row = {"Repository": "busybox", "Tag": "latest", "Size": "4.26MB", "Env": ["A=1", "B=2"]}
    assert render(body, row) == 'busybox\tLATEST\t"4.26MB"\tA=1,B=2'
