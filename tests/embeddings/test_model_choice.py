"""CHATMEM_EMBEDDINGS_MODEL names another model: fetched once from the hub into the data directory,
a clear error when it cannot be had, and never a mix of two models' vectors in one search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from chatmem.embeddings import LocalEmbedder, ModelUnavailableError
from chatmem.enrich import reembed
from chatmem.store import Database
from chatmem.store.tables import message_embeddings, summary_embeddings
from tests.embeddings.conftest import TINY, TINY_REPO
from tests.search.conftest import EMBEDDING, add, client, search, settle
from tests.support import database_url, free_port, live_server

CHATMEM = str(Path(sys.executable).parent / "chatmem")
CLOSED = f"http://127.0.0.1:{free_port()}"  # nothing listens there: an offline hub


def test_a_hub_model_is_fetched_once_into_the_models_dir_and_used_from_there(
    hub: str, tmp_path: Path
) -> None:
    embedder = LocalEmbedder(TINY_REPO, models_dir=tmp_path, hub_url=hub)
    vectors = embedder.embed(["hello there", "the red one"])
    assert vectors.shape == (2, TINY["hidden"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert (tmp_path / "chatmem-tests--tiny-bert" / "model.safetensors").is_file()
    # Cached: the hub is no longer needed, and the vectors are the same.
    again = LocalEmbedder(TINY_REPO, models_dir=tmp_path, hub_url=CLOSED).embed(
        ["hello there", "the red one"]
    )
    assert np.allclose(vectors, again, atol=1e-6)


def test_a_model_that_cannot_be_fetched_fails_at_once_with_the_reason(tmp_path: Path) -> None:
    embedder = LocalEmbedder("all-MiniLM-L12-v2", models_dir=tmp_path, hub_url=CLOSED)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match=r"could not be fetched .* Offline\?"):
        embedder.embed(["x"])
    assert time.monotonic() - started < 15  # the connect timeout bounds it; a refused port is instant
    assert list(tmp_path.iterdir()) == []  # nothing half-fetched is left to be mistaken for a model


def test_a_model_chatmem_cannot_run_is_refused_with_the_reason(tiny_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "mpnet"
    other.mkdir()
    for name in ("tokenizer.json", "model.safetensors"):
        (other / name).write_bytes((tiny_model / name).read_bytes())
    (other / "config.json").write_text(json.dumps({"model_type": "mpnet"}))
    with pytest.raises(ModelUnavailableError, match="model_type 'mpnet' is not supported"):
        LocalEmbedder(str(other)).embed(["x"])


def test_serve_offline_with_a_model_that_is_not_packaged_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path),
        "CHATMEM_DATABASE_URL": "",
        "CHATMEM_EMBEDDINGS_MODEL": "all-MiniLM-L12-v2",
        "CHATMEM_EMBEDDINGS_HUB_URL": CLOSED,
    }
    done = subprocess.run(
        [CHATMEM, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "sentence-transformers/all-MiniLM-L12-v2" in done.stderr
    assert "could not be fetched" in done.stderr and "Offline?" in done.stderr


def _models(db: Database) -> set[str]:
    with db.read() as conn:
        return {
            row[0]
            for table in (message_embeddings, summary_embeddings)
            for row in conn.execute(sa.select(table.c.model).distinct())
        }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_model_change_and_reembed_leave_no_mixed_model_results(
    backend: str, tmp_path: Path, tiny_model: Path, sid: str
) -> None:
    texts = [
        "My sister moved to Lisbon last spring.",
        "I am learning to bake sourdough bread.",
        "Our team won the football match on Sunday.",
        "The cat keeps knocking plants off the shelf.",
    ]
    tiny = str(tiny_model)
    embedder = LocalEmbedder(tiny)
    common = {**EMBEDDING, "message_window": 2, "summarizer": "extractive"}
    with database_url(backend, tmp_path) as url:
        with live_server(backend, tmp_path, database_url=url, **common) as first, client(first) as api:
            add(api, sid, *((("human", "ai")[i % 2], t) for i, t in enumerate(texts)))
            settle(api)
            assert _models(first.db) == {"all-MiniLM-L6-v2"}

        changed = {**common, "embeddings_model": tiny, "enrich_workers": 0}
        with live_server(backend, tmp_path, database_url=url, **changed) as second, client(second) as api:
            # Only the new model's vectors take part: none yet (nothing is pending either): no hits.
            assert search(api, f"/sessions/{sid}", text="bread baking", search_type="similarity") == []
            missing = reembed.count_missing(second.db, tiny)
            assert missing["messages"] == len(texts) and missing["summaries"] >= 1
            assert reembed.reembed(second.db, embedder) == sum(missing.values())
            assert _models(second.db) == {tiny}
            assert reembed.reembed(second.db, embedder) == 0  # resumable: nothing is done twice
            hits = search(api, f"/sessions/{sid}", text="bread baking", search_type="mmr", limit=4)
            summaries = search(
                api, f"/sessions/{sid}", text="bread baking", search_type="similarity", search_scope="summary"
            )
    assert len(hits) == 4 and summaries
    query = embedder.embed(["bread baking"])[0]
    for hit in hits:
        vector = np.asarray(hit["embedding"], dtype=np.float32)
        assert vector.shape == (TINY["hidden"],)
        assert np.allclose(vector, embedder.embed([hit["message"]["content"]])[0], atol=1e-5)
        assert hit["dist"] == pytest.approx(max(0.0, float(vector @ query)), abs=1e-5)
    for hit in summaries:
        expected = embedder.embed([hit["summary"]["content"]])[0] @ query
        assert hit["dist"] == pytest.approx(max(0.0, float(expected)), abs=1e-5)


def _reembed_command(tmp_path: Path, tiny_model: Path, sid: str, *args: str) -> tuple[str, str]:
    """Two embedded messages of the packaged model, then ``chatmem reembed ARGS`` with the tiny one."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with live_server("sqlite", tmp_path, database_url=url, **EMBEDDING) as server, client(server) as api:
        add(api, sid, ("human", "first message"), ("ai", "second message"))
        settle(api)
    env = {**os.environ, "CHATMEM_DATABASE_URL": url, "CHATMEM_EMBEDDINGS_MODEL": str(tiny_model)}
    done = subprocess.run([CHATMEM, "reembed", *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return url, done.stdout + done.stderr


def test_reembed_as_queue_jobs_is_done_by_the_workers(tmp_path: Path, tiny_model: Path, sid: str) -> None:
    url, output = _reembed_command(tmp_path, tiny_model, sid, "--queue")
    assert "queued 1 job(s)" in output
    changed = {**EMBEDDING, "embeddings_model": str(tiny_model)}
    with live_server("sqlite", tmp_path, database_url=url, **changed) as server, client(server) as api:
        settle(api)
        assert _models(server.db) == {str(tiny_model)}
        with server.client() as http:
            assert http.get("/healthz").text == "."


def test_reembed_command_shows_progress_and_finishes(tmp_path: Path, tiny_model: Path, sid: str) -> None:
    _url, output = _reembed_command(tmp_path, tiny_model, sid)
    assert "embedded 2 row(s)" in output
    assert "2/2" in output  # tqdm's bar
