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
                     "send", "inbox", "poll", "vote", "echo", "adder", "chat", "lookup", "bench",
                     "version", "help"):
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


def test_every_command_is_documented():
    """Each command `agora help` lists has its usage on stdout (`--help`,
    exit 0, nothing on stderr), the same text through `agora help CMD`, and
    a section in the man page titled `.SS "agora CMD ..."`."""
    require_agora("the command line")
    from conftest import REPO
    with open(os.path.join(REPO, "docs", "agora.1"), encoding="utf-8") as f:
        sections = re.findall(r'^\.SS "agora ([a-z]+)[ "]', f.read(), re.M)
    names = listed_commands()
    assert len(names) >= 17, names
    problems = []
    for name in names:
        rc, out, err = run(name, "--help")
        if rc != EXIT_OK or err or not re.match(r"usage: agora %s( |$)" % name, out, re.M):
            problems.append("agora %s --help: status %d, stdout %r, stderr %r"
                            % (name, rc, out[:80], err[:200]))
        via = run("help", name)
        if via != (rc, out, err):
            problems.append("agora help %s differs from agora %s --help: %r"
                            % (name, name, (via[0], via[1][:80], via[2][:200])))
        if name not in sections:
            problems.append("docs/agora.1 has no section .SS \"agora %s ...\"" % name)
    assert not problems, "\n".join(problems)


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


def test_man_page_is_built_from_its_fragments():
    # docs/agora.1 is committed for readers; docs/man/*.roff are its source.
    from conftest import REPO
    built = subprocess.run(["sh", os.path.join(REPO, "scripts", "build-man.sh")],
                           stdout=subprocess.PIPE, check=True, timeout=10).stdout
    with open(os.path.join(REPO, "docs", "agora.1"), "rb") as f:
        assert f.read() == built, "docs/agora.1 is stale: run `make man`"


def test_man_page_renders_without_warnings():
    from conftest import REPO
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z",
                        os.path.join(REPO, "docs", "agora.1")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()


def complete(*words):
    """What the bash completion offers for the command line `words`, the
    last one being completed (the binary under test as the program)."""
    from conftest import REPO
    script = os.path.join(REPO, "scripts", "agora.bash-completion")
    quoted = " ".join("'%s'" % w for w in (AGORA_BIN,) + words)
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                        'source "$1"; COMP_WORDS=(%s); COMP_CWORD=%d; _agora; '
                        'printf "%%s\\n" "${COMPREPLY[@]}"' % (quoted, len(words)),
                        "bash", script],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                       env=sanitizer_env())
    assert r.returncode == 0, r.stderr.decode()
    return set(r.stdout.decode().split())


def test_bash_completion_commands_and_options():
    require_agora("the command line")
    assert complete("se") == {"serve", "send"}
    assert complete("help", "lo") == {"login", "logout", "lookup"}
    opts = complete("serve", "--http-li")
    assert opts == {"--http-listener", "--http-linger-bytes", "--http-linger-time",
                    "--http-linger-timeout"}, opts
    assert complete("serve", "--max-conn") == {"--max-connections"}
    # a command with subcommands: their words, then each one's own options
    assert complete("po") == {"poll"}
    assert complete("poll", "") == {"create", "list", "show", "close"}
    assert complete("poll", "c") == {"create", "close"}
    assert complete("poll", "show", "--") == {"--follow", "--mqtt", "--json", "--server",
                                              "--cafile", "--insecure", "--timeout",
                                              "--help"}
    assert complete("poll", "create", "--closes") == {"--closes-in", "--closes-at"}
    assert complete("vote", "--ch") == {"--change"}
    assert complete("rule", "") == {"add", "list", "show", "enable", "disable", "rm", "test"}
    assert complete("rule", "add", "--a") == {"--action"}
    assert complete("rule", "test", "--re") == {"--retain"}


@pytest.mark.parametrize("cmd", ["pub", "sub"])
def test_bash_completion_pub_sub_options(cmd):
    # Every option that `agora pub --help` / `agora sub --help` names.
    require_agora("the command line")
    rc, out, _ = run(cmd, "--help")
    assert rc == EXIT_OK
    named = set(re.findall(r"(?<![\w-])(--?[A-Za-z][-A-Za-z0-9]*)", out))
    offered = complete(cmd, "-")
    assert named <= offered, sorted(named - offered)
    shared = {"-h", "-p", "-t", "-q", "-i", "-c", "-u", "-P", "-k", "-V", "-x", "-D", "-L",
              "-d", "--will-topic", "--will-payload", "--will-qos", "--will-retain", "--help"}
    own = {"pub": {"-m", "-f", "-s", "-l", "-n", "-r"},
           "sub": {"-T", "-U", "-C", "-W", "-R", "-v", "-N", "-F", "--json"}}[cmd]
    assert shared | own <= offered, sorted((shared | own) - offered)
    assert complete(cmd, "--will-r") == {"--will-retain"}


def test_bash_completion_tls_init():
    # `agora tls` has a subcommand, then that subcommand's options.
    require_agora("the command line")
    assert "init" in complete("tls", "")
    offered = complete("tls", "init", "--")
    assert {"--days", "--ca-days", "--name", "--ip", "--client", "--force"} <= offered, offered


def test_make_install_puts_binary_man_page_and_completion(tmp_path):
    require_agora("the command line")
    from conftest import REPO
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "DESTDIR=%s" % tmp_path,
                        "PREFIX=/usr", "INSTALL_BIN=%s" % AGORA_BIN],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0, r.stdout.decode()
    binary = tmp_path / "usr" / "bin" / "agora"
    assert os.access(binary, os.X_OK)
    assert (tmp_path / "usr/share/man/man1/agora.1").read_bytes().startswith(b".TH AGORA 1")
    assert "complete -F _agora agora" in \
        (tmp_path / "usr/share/bash-completion/completions/agora").read_text()
    rc = subprocess.run([str(binary), "version"], stdout=subprocess.PIPE,
                        env=sanitizer_env(), timeout=10)
    assert rc.returncode == 0 and rc.stdout.startswith(b"agora ")
