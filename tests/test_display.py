"""docker's sizes, ages, tables and times (go-units, text/tabwriter, RFC 3339)."""

from decimal import Decimal

import pytest

from minidock.display import (format_table, human_duration, human_size, parse_rfc3339,
                              rfc3339, tabwrite, time_ago)

KB, MB, GB, TB, PB = 1000, 1000**2, 1000**3, 1000**4, 1000**5
MINUTE, HOUR, DAY = 60, 3600, 86400
WEEK, MONTH, YEAR = 7 * DAY, 30 * DAY, 365 * DAY


@pytest.mark.parametrize("size, text", [
    (0, "0B"),
    (1, "1B"),
    (999, "999B"),
    (1000, "1kB"),
    (1024, "1.02kB"),
    (4_263_520, "4.26MB"),            # busybox in `docker images`
    (1_240_000_000, "1.24GB"),
    (77_800_000, "77.8MB"),
    (999_499, "999kB"),
    (999_999, "1e+03kB"),             # %.3g rounds up to 1000: docker prints this too
    (2 * MB, "2MB"),
])
def test_human_size_docker_images_precision(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("size, text", [     # go-units size_test.go, HumanSize (precision 4)
    (1000, "1kB"),
    (1024, "1.024kB"),
    (1_000_000, "1MB"),
    (1_048_576, "1.049MB"),
    (3.42 * GB, "3.42GB"),
    (5.372 * TB, "5.372TB"),
    (2.22 * PB, "2.22PB"),
    (10_000_000_000_000 * PB, "1e+04YB"),
])
def test_human_size_go_units_vectors(size, text):
    assert human_size(size, precision=4) == text


@pytest.mark.parametrize("seconds, text", [  # go-units duration_test.go
    (0.45, "Less than a second"),
    (-5, "Less than a second"),
    (1, "1 second"),
    (45, "45 seconds"),
    (59, "59 seconds"),
    (60, "About a minute"),
    (119, "About a minute"),
    (3 * MINUTE, "3 minutes"),
    (35 * MINUTE + 40, "35 minutes"),
    (59 * MINUTE, "59 minutes"),
    (HOUR, "About an hour"),
    (HOUR + 29 * MINUTE, "About an hour"),
    (HOUR + 31 * MINUTE, "2 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"),
    (3 * HOUR + 31 * MINUTE, "4 hours"),
    (21 * HOUR, "21 hours"),
    (DAY + 12 * HOUR, "36 hours"),
    (2 * DAY, "2 days"),
    (13 * DAY + 5 * HOUR, "13 days"),
    (2 * WEEK, "2 weeks"),
    (2 * WEEK + 4 * DAY, "2 weeks"),
    (3 * WEEK, "3 weeks"),
    (MONTH, "4 weeks"),
    (MONTH + 2 * WEEK, "6 weeks"),
    (2 * MONTH, "2 months"),
    (5 * MONTH + 2 * WEEK, "5 months"),
    (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * WEEK, "2 years"),
    (3 * YEAR + 2 * MONTH, "3 years"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_time_ago_counts_back_from_now():
    assert time_ago(1000.0, now=1000.0 + 21 * HOUR) == "21 hours ago"
    assert time_ago(1000.0, now=1003.5) == "3 seconds ago"


def test_time_ago_defaults_to_the_clock():
    import time
    assert time_ago(time.time() - 2 * DAY) == "2 days ago"


IMAGES = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
PS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


@pytest.mark.parametrize("headers, rows, text", [
    (IMAGES, [], "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"),
    (PS, [], "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"),
    (IMAGES, [["busybox", "latest", "6fd955f66c23", "21 hours ago", "4.26MB"]],
     "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n"
     "busybox      latest    6fd955f66c23   21 hours ago   4.26MB"),
    (PS, [["4c01db0b339c", "busybox", '"sh"', "2 minutes ago", "Exited (0) 1 second ago",
           "", "web"]],
     "CONTAINER ID   IMAGE     COMMAND   CREATED         STATUS                    PORTS     NAMES\n"
     '4c01db0b339c   busybox   "sh"      2 minutes ago   Exited (0) 1 second ago             web'),
    (["A", "B"], [["x", ""]], "A         B\nx"),           # trailing spaces are stripped
])
def test_format_table(headers, rows, text):
    assert format_table(headers, rows) == text


def test_tabwrite_keeps_lines_and_unterminated_text():
    text = "NAME\tSIZE\nbusybox\t4.26MB\n"
    assert tabwrite(text) == "NAME      SIZE\nbusybox   4.26MB\n"
    assert tabwrite("no tabs at all") == "no tabs at all"
    assert tabwrite("a\tb", minwidth=0, padding=1) == "a b"


@pytest.mark.parametrize("ts, text", [
    (1704164645, "2024-01-02T03:04:05Z"),
    (1704164645.0, "2024-01-02T03:04:05Z"),
    (1704164645.5, "2024-01-02T03:04:05.5Z"),
    (1704164645.25, "2024-01-02T03:04:05.25Z"),
    (Decimal("1704164645.123456789"), "2024-01-02T03:04:05.123456789Z"),
    (Decimal("1704164645.1234567891"), "2024-01-02T03:04:05.123456789Z"),  # nanoseconds
    (Decimal("1704164645.000000100"), "2024-01-02T03:04:05.0000001Z"),
    (0, "1970-01-01T00:00:00Z"),
    (-0.5, "1969-12-31T23:59:59.5Z"),
    (-62135596800, "0001-01-01T00:00:00Z"),       # Go's zero time
])
def test_rfc3339(ts, text):
    assert rfc3339(ts) == text


@pytest.mark.parametrize("text, ts", [
    ("2024-01-02T03:04:05Z", 1704164645),
    ("2024-01-02T03:04:05.5Z", 1704164645.5),
    ("2024-01-02T05:04:05+02:00", 1704164645),
    ("2024-01-02T01:04:05-02:00", 1704164645),
    ("2024-01-02t03:04:05z", 1704164645),
    ("0001-01-01T00:00:00Z", -62135596800),
])
def test_parse_rfc3339(text, ts):
    assert parse_rfc3339(text) == pytest.approx(ts, abs=1e-6)


def test_parse_rfc3339_keeps_the_fraction():
    assert parse_rfc3339("2024-01-02T03:04:05.123456789Z") == pytest.approx(
        1704164645.123456789, abs=1e-6)


@pytest.mark.parametrize("text", ["", "2024-01-02", "2024-01-02 03:04:05Z",
                                  "2024-01-02T03:04:05", "yesterday"])
def test_parse_rfc3339_rejects(text):
    with pytest.raises(ValueError):
        parse_rfc3339(text)


@pytest.mark.parametrize("text", ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5Z",
                                  "0001-01-01T00:00:00Z", "1999-12-31T23:59:59.25Z"])
def test_rfc3339_round_trip(text):
    assert rfc3339(parse_rfc3339(text)) == text
