"""The SQLite store as `agora serve` opens it (src/store): a database from a
newer Agora, or an unusable data file, stops the start with a clear message
and a non-zero status; a clean restart keeps every account and message."""

import os
import sqlite3

import requests

from conftest import free_port, require_agora
from test_server import run_agora


def write_conf(tmp_path, data_dir):
    conf = tmp_path / "store.conf"
    conf.write_text("listener 127.0.0.1:%d\nhttp_listener 127.0.0.1:%d\ndata_dir %s\n"
                    % (free_port(), free_port(), data_dir))
    return str(conf)


def test_database_from_a_newer_version_refused(tmp_path):
    require_agora("SQLite store")
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(str(data / "agora.db"))
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    rc, out = run_agora("serve", "-c", write_conf(tmp_path, data))
    assert rc != 0, out
    assert "agora.db" in out and "999" in out, out
    # ... and the file is left as it was.
    db = sqlite3.connect(str(data / "agora.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 999
    db.close()


def test_database_that_is_not_sqlite_refused(tmp_path):
    require_agora("SQLite store")
    data = tmp_path / "data"
    data.mkdir()
    (data / "agora.db").write_bytes(b"this is not a database" * 100)
    rc, out = run_agora("serve", "-c", write_conf(tmp_path, data))
    assert rc != 0, out
    assert "agora.db" in out, out


def test_clean_restart_keeps_accounts_and_messages(broker_factory, tmp_path):
    require_agora("SQLite store")
    data = str(tmp_path / "keep")
    b = broker_factory("data_dir %s" % data)
    url = b.http_url
    for name in ("ann", "ben"):
        r = requests.post(url + "/api/users", json={"name": name, "password": "password1"},
                          timeout=10)
        assert r.status_code == 201, r.text
    token = r.json()["token"]  # ben's
    r = requests.post(url + "/api/users/ann/messages", json={"content": "kept"},
                      headers={"Authorization": "Bearer " + token}, timeout=10)
    assert r.status_code == 201, r.text
    assert b.stop() == 0
    b2 = broker_factory("data_dir %s" % data)
    r = requests.post(b2.http_url + "/api/login",
                      json={"name": "ann", "password": "password1"}, timeout=10)
    assert r.status_code == 200, r.text
    inbox = requests.get(b2.http_url + "/api/messages",
                         headers={"Authorization": "Bearer " + r.json()["token"]},
                         timeout=10).json()
    assert [m["content"] for m in inbox["messages"]] == ["kept"]
    # A token issued before the restart still works.
    r = requests.get(b2.http_url + "/api/messages/sent",
                     headers={"Authorization": "Bearer " + token}, timeout=10)
    assert r.status_code == 200 and r.json()["total"] == 1
