"""The `agora` command line itself: the command table, help, and the exit
codes every command shares (src/cli/commands.h, docs/agora.1 "EXIT
STATUS"): 0 ok, 1 usage, 2 network or protocol, 3 refused, 4 local."""

import os
import re
import socket
import subprocess

import pytest

from conftest import AGORA_BIN, free_port, require_agora, sanitizer_env, sanitizer_lines

EXIT_OK, EXIT_USAGE, EXIT_NET, EXIT_REFUSED, EXIT_LOCAL = 0, 1, 2, 3, 4


def run(*args, timeout=20):
    """(status, stdout, stderr) of the binary run to completion."""
    r = subprocess.run([AGORA_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=sanitizer_env())
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    assert not sanitizer_lines((out + err).splitlines()), out + err
    return r.returncode, out, err


def listed_commands():
    rc, out, _ = run("help")
    assert rc == EXIT_OK
    return re.findall(r"^  (\w+) ", out, re.M)


def test_help_lists_every_command():
    require_agora("the command line")
    names = listed_commands()
    for expected in ("serve", "pub", "sub", "register", "login", "logout", "users", "status",
                     "send", "inbox", "echo", "adder", "chat", "lookup", "bench", "version",
                     "help"):
        assert expected in names, names


def test_no_command_is_a_usage_error():
    require_agora("the command line")
    rc, out, err = run()
    assert rc == EXIT_USAGE
    assert out == "" and "usage: agora <command>" in err


def test_unknown_command_one_line():
    require_agora("the command line")
    rc, out, err = run("frobnicate")
    assert rc == EXIT_USAGE
    assert err.strip().count("\n") == 0 and "'frobnicate' is not a command" in err, err


def test_help_command_is_the_commands_own_help():
    require_agora("the command line")
    rc, via_help, _ = run("help", "serve")
    assert rc == EXIT_OK
    rc2, direct, _ = run("serve", "--help")
    assert rc2 == EXIT_OK and via_help == direct and "usage: agora serve" in direct
    rc, _, err = run("help", "frobnicate")
    assert rc == EXIT_USAGE and "not a command" in err


def test_serve_bad_option_is_a_usage_error():
    require_agora("the command line")
    rc, _, err = run("serve", "--no-such-setting", "1")
    assert rc == EXIT_USAGE, err
    assert "no_such_setting" in err or "no-such-setting" in err, err


def test_serve_cannot_listen_is_a_network_error(tmp_path):
    require_agora("the command line")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        rc, out, err = run("serve", "-l", "127.0.0.1:%d" % port, "--http-listener", "off",
                           "--data-dir", tmp_path / "d")
    finally:
        holder.close()
    assert rc == EXIT_NET, out + err
    assert "cannot listen on 127.0.0.1:%d" % port in out + err, out + err


def test_serve_unusable_data_dir_is_a_local_error(tmp_path):
    require_agora("the command line")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc, out, err = run("serve", "-l", "127.0.0.1:%d" % free_port(), "--http-listener", "off",
                       "--data-dir", blocker)
    assert rc == EXIT_LOCAL, out + err
    assert "not a directory" in out + err, out + err
