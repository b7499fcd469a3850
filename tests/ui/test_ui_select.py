""""Where can my model run?" in the browser gives the same answer as POST /v1/select, for a
feasible request, an infeasible one, and a registered model."""

from __future__ import annotations

import json
from typing import Any

from ui_harness import ConsolePage


def _submit(console: ConsolePage) -> dict[str, Any]:
    page = console.page
    page.click("#select-submit")
    page.wait_for_selector("#select-result[data-state='feasible'], #select-result[data-state='infeasible'], "
                           "#select-result[data-state='error']")
    assert page.get_attribute("#select-result", "data-state") != "error", page.inner_text("#select-result")
    return json.loads(page.text_content("#result-json"))


def _sent(console: ConsolePage) -> dict[str, Any]:
    return json.loads(console.page.text_content("#request-preview"))


def _api(console: ConsolePage, body: dict[str, Any]) -> dict[str, Any]:
    with console.service.client() as c:
        resp = c.post("/v1/select", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _rendered_placements(console: ConsolePage) -> list[dict[str, Any]]:
    out = []
    for row in console.page.query_selector_all("#placements tbody tr"):
        chips = row.query_selector_all("td.runtime .chip")
        out.append({
            "role": row.get_attribute("data-role"),
            "node": row.query_selector("td.node").inner_text(),
            "gpu": row.query_selector("td.gpu").inner_text(),
            "runtime": {c.get_attribute("data-component"): c.inner_text().split(" ", 1)[1] for c in chips},
        })
    return out


def _expected_placements(answer: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [("choice", answer["choice"])] + [("alternative", a) for a in answer["alternatives"]]
    return [{"role": role, "node": p["node"], "gpu": f"{p['gpu']['count']}× {p['gpu']['product']}",
             "runtime": p["runtime"]} for role, p in rows]


def test_ui_select_feasible_matches_api(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=framework]", "pytorch")
    page.fill("input[name=framework_version]", ">=2.3")
    page.select_option("select[name=precision]", "bf16")
    page.fill("input[name=gpu_count]", "1")
    page.fill("input[name=top]", "3")
    sent = _sent(console)
    assert sent == {"model": {"framework": "pytorch", "framework_version": ">=2.3", "precision": "bf16",
                              "gpu_count": 1}, "top": 3}
    shown = _submit(console)
    expected = _api(console, sent)
    assert expected["feasible"] is True
    assert shown == expected
    assert page.get_attribute("#result-verdict", "data-feasible") == "true"
    assert _rendered_placements(console) == _expected_placements(expected)
    assert [li.inner_text() for li in page.query_selector_all("#explanation li")] == expected["explanation"]
    assert console.errors == []


def test_ui_select_infeasible_shows_conflicts_and_suggestions(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=precision]", "fp8")
    page.fill("input[name=min_gpu_memory_gib]", "200")
    page.fill("input[name=top]", "1")
    sent = _sent(console)
    assert sent["model"]["min_gpu_memory_gib"] == 200 and sent["model"]["precision"] == "fp8"
    shown = _submit(console)
    expected = _api(console, sent)
    assert expected["feasible"] is False and expected["conflicts"]
    assert shown == expected
    assert page.get_attribute("#result-verdict", "data-feasible") == "false"
    rendered = [(li.get_attribute("data-rule"), li.query_selector(".message").inner_text())
                for li in page.query_selector_all("#conflicts li")]
    assert rendered == [(c["rule"], c["message"]) for c in expected["conflicts"]]
    assert [li.inner_text() for li in page.query_selector_all("#suggestions li")] == expected["suggestions"]
    assert page.query_selector("#placements") is None
    assert console.errors == []


def test_ui_select_registered_model_and_cluster(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=model_name]", "detector-v3")
    assert page.input_value("input[name=framework_version]") == ">=2.3"  # the form shows the stored request
    page.fill("input[name=cluster]", "edge-seoul")
    page.fill("input[name=top]", "2")
    sent = _sent(console)
    assert sent == {"model_name": "detector-v3", "top": 2, "where": {"cluster": "edge-seoul"}}
    shown = _submit(console)
    expected = _api(console, sent)
    assert shown == expected
    if expected["feasible"]:
        assert all(p["node"] in ("edge-01",) for p in _rendered_placements(console))
    assert console.errors == []


def test_ui_select_bad_input_shows_the_problem(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.fill("input[name=framework_version]", ">=banana")
    page.click("#select-submit")
    page.wait_for_selector("#select-result[data-state='error']")
    with console.service.client() as c:
        problem = c.post("/v1/select", json=_sent(console)).json()
    text = page.inner_text("#select-result")
    assert problem["detail"] in text and "422" in text
    # The browser logs the 422 response itself; anything else would be a console bug.
    assert all("422" in e for e in console.errors), console.errors


def test_ui_select_vllm_shows_the_pinned_torch(console: ConsolePage) -> None:
    """A serving engine is offered in the form; its answer names the torch it pins, shown as sent."""
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=framework]", "vllm")
    page.fill("input[name=top]", "2")
    sent = _sent(console)
    assert sent == {"model": {"framework": "vllm", "gpu_count": 1}, "top": 2}
    shown = _submit(console)
    expected = _api(console, sent)
    assert shown == expected
    if expected["feasible"]:
        placements = _rendered_placements(console)
        assert placements == _expected_placements(expected)
        assert all("vllm" in p["runtime"] and "pytorch" in p["runtime"] for p in placements)
    else:
        assert expected["conflicts"]


def test_ui_select_install_recipe_matches_api(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=framework]", "pytorch")
    page.fill("input[name=top]", "1")
    page.check("input[name=install]")
    sent = _sent(console)
    assert sent["install"] is True
    shown = _submit(console)
    expected = _api(console, sent)
    assert shown == expected and expected["install"]["pip"]["requirements"]
    assert page.text_content("#install-requirements") == expected["install"]["requirements_txt"]
    assert page.text_content("#install-stage") == "\n".join(expected["install"]["stage"])
    assert json.loads(page.text_content("#install-kubernetes")) == expected["install"]["kubernetes"]
    assert console.errors == []


def test_ui_select_artifact_shows_the_verdict_and_checked_changes(console: ConsolePage) -> None:
    from pathlib import Path

    from modelfile import inspect_artifact

    facts = inspect_artifact(Path(__file__).parents[1] / "modelfile" / "data" / "llama-3.1-70b").to_dict()
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=framework]", "pytorch")
    page.select_option("select[name=precision]", "bf16")
    page.fill("input[name=gpu_count]", "")
    page.fill("textarea[name=artifact]", json.dumps({"artifact": facts}))
    page.fill("input[name=max_model_len]", "8192")
    page.fill("input[name=max_num_seqs]", "16")
    page.fill("input[name=top]", "1")
    sent = _sent(console)
    assert sent["model"]["artifact"] == facts and sent["model"]["serving"] == {"max_model_len": 8192, "max_num_seqs": 16}
    shown = _submit(console)
    expected = _api(console, sent)
    assert shown == expected and expected["verdict"] == "runnable-with-change"
    assert page.get_attribute("#memory-verdict", "data-verdict") == "runnable-with-change"
    assert [li.get_attribute("data-change") for li in page.query_selector_all("#changes li")] == [
        c["change"] for c in expected["changes"]]
    assert [li.inner_text() for li in page.query_selector_all("#memory-how li")] == expected["memory"]["how"]
    assert console.errors == []


def test_ui_why_not_a_node_shows_every_rule_with_its_sources(console: ConsolePage) -> None:
    console.sign_in("reader")
    console.open("select")
    page = console.page
    page.select_option("select[name=framework]", "pytorch")
    page.fill("input[name=gpu_count]", "1")
    page.fill("input[name=why_not]", "cpu-01")
    sent = _sent(console)
    assert sent["why_not"] == "cpu-01"
    shown = _submit(console)
    expected = _api(console, sent)
    assert shown == expected and expected["usable"] is False
    assert page.get_attribute("#result-verdict", "data-feasible") == "false"
    rows = page.query_selector_all("#why-not tbody tr")
    assert [(r.get_attribute("data-rule"), r.get_attribute("data-ok")) for r in rows] == \
        [(v["rule"], str(v["ok"]).lower()) for v in expected["verdicts"]]
    assert any(v["rule"] == "no-gpu" and not v["ok"] for v in expected["verdicts"])
    assert console.errors == []


def test_ui_select_form_has_its_id_and_panel_class(console: ConsolePage) -> None:
    """`h("form#select-form.panel")` gave the form the id "select-form.panel" and no class: a
    script (or a user's CSS) looking for #select-form found nothing (the recorded session hung)."""
    console.sign_in("reader")
    console.open("select")
    page = console.page
    assert page.get_attribute("#select-form", "class") == "panel"
    assert page.query_selector("[id='select-form.panel']") is None
    assert console.errors == []
