"""examples/budget/: the manifests load through the API models, and under the chart's price table the
budget lets the first run start and holds the second, with the figures its README shows."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import yaml
from ocids_operator.api import TrainingJob, TrainingJobRun
from ocids_operator.api.budget import TrainingBudget
from ocids_operator.core.admission import Hold, HoldReason
from ocids_operator.core.budget_plan import Budget, Usage, decide, selects, window_of
from ocids_operator.core.cost import max_runtime_minutes, price_per_hour, run_sizes, worst_case
from ocids_operator.core.price_table import parse_price_table

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "budget"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
}


def load_all(name: str) -> list[dict[str, Any]]:
    text = PLACEHOLDER.sub(lambda m: IDS[m.group(1)], (EXAMPLE / name).read_text())
    return [dict(doc) for doc in yaml.safe_load_all(text)]


def test_the_budget_starts_the_first_run_and_holds_the_second_with_the_readme_figures() -> None:
    [job_doc] = load_all("trainingjob.yaml")
    [budget_doc] = load_all("budget.yaml")
    runs = [TrainingJobRun.model_validate(doc) for doc in load_all("trainingjobruns.yaml")]
    job = TrainingJob.model_validate(job_doc)
    TrainingBudget.model_validate(budget_doc)
    budget = Budget.of("team-gpu", budget_doc["spec"])
    assert selects(budget.selector, job_doc["metadata"]["labels"])

    table = parse_price_table(
        (ROOT / "charts/ocids-operator/prices/prices.yaml").read_text(), "x/ocids-prices"
    )
    sizes = run_sizes(runs[0].spec, job.spec)
    assert not isinstance(sizes, str), sizes
    worst = worst_case(price_per_hour(sizes, table), max_runtime_minutes(runs[0].spec, job.spec))
    assert worst is not None and round(worst, 2) == 0.80, worst

    window = window_of("Monthly", datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC))
    first = decide(budget, window, Usage(0.0, 0.0, 0, ()), worst, None, table.currency, "fine-tune")
    second = decide(budget, window, Usage(0.0, worst, 1, ()), worst, None, table.currency, "fine-tune")
    assert first is None
    assert isinstance(second, Hold) and second.reason is HoldReason.BUDGET_EXCEEDED
    readme = " ".join((EXAMPLE / "README.md").read_text().split())
    assert second.message in readme, second.message
