"""The charge editor: each charge model's inputs <-> the `properties` the API takes, judged by the plan
service's rules with each refusal next to its input (a tier's next to its cell)."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.errors import ValidationFailed
from plans.charge_editor import (
    fields_from_properties,
    place_errors,
    properties_from_fields,
    starting_tiers,
)
from plans.charge_models import validate_properties
from plans.forms import SPARE_TIERS
from plans.models import Charge, Plan
from plans.tests.test_views import field_errors, make_metric, make_plan, plan_data


def tier(low="", high="", per_unit="", flat="") -> dict[str, str]:
    return {"from_value": low, "to_value": high, "per_unit_amount": per_unit, "flat_amount": flat}


def tier_inputs(*tiers: dict[str, str]) -> dict[str, list[str]]:
    """The tiers table as the page posts it: each column's values in row order."""
    cells = ("from_value", "to_value", "per_unit_amount", "flat_amount")
    return {f"tiers-{cell}": [row[cell] for row in tiers] for cell in cells}


def tier_table(html: str, index: int) -> list[dict[str, tuple[str, str]]]:
    """The tiers table of charge `index` as the page shows it: per row, each cell's (value, error)."""
    prefix = f"charges-{index}-tiers-"
    rows = []
    for row in re.findall(r"<tr data-tier[^>]*>(.*?)</tr>", html, re.S):
        cells = {}
        for cell, body in re.findall(r'<td class="[^"]*" data-cell="(\w+)">(.*?)</td>', row, re.S):
            name, value = re.search(r'name="([^"]+)" value="([^"]*)"', body).groups()
            error = re.search(r'<div class="field-error"[^>]*>(.*?)</div>', body, re.S)
            if name.startswith(prefix):
                cells[cell] = (unescape(value), unescape(error.group(1)).strip() if error else "")
        if cells:
            rows.append(cells)
    return rows


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input type="text" name="{re.escape(name)}"(?: value="([^"]*)")?', html)
    return None if match is None else unescape(match.group(1) or "")


# Inputs <-> properties ----------------------------------------------------------------------------

SAVED = [
    ("standard", {"amount": "0.5"}),
    ("standard", {"amount": "12", "pricing_group_keys": ["region", "country"]}),
    ("package", {"amount": "10", "package_size": 1000, "free_units": 100}),
    ("package", {"amount": "0.25", "package_size": 1, "free_units": 0}),
    ("percentage", {"rate": "2"}),
    (
        "percentage",
        {
            "rate": "1.5",
            "fixed_amount": "0.2",
            "free_units_per_events": 5,
            "free_units_per_total_aggregation": "500",
            "per_transaction_min_amount": "1.75",
            "per_transaction_max_amount": "3.75",
        },
    ),
    (
        "graduated",
        {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 100, "per_unit_amount": "0.1", "flat_amount": "1"},
                {"from_value": 101, "to_value": 1000, "per_unit_amount": "0.05", "flat_amount": "0"},
                {"from_value": 1001, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0"},
            ]
        },
    ),
    (
        "graduated",  # adjacent tiers: the next starts where the previous ends
        {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 10, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
            ]
        },
    ),
    (
        "volume",
        {
            "volume_ranges": [
                {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "1"},
                {"from_value": 101, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
            ]
        },
    ),
]


@pytest.mark.parametrize(("model", "saved"), SAVED)
def test_a_saved_charge_fills_the_inputs_that_give_it_back(model, saved):
    fields = fields_from_properties(model, saved)
    assert all(isinstance(value, str) for name, value in fields.items() if name != "tiers")
    properties = properties_from_fields(model, fields)
    normalized, errors = validate_properties(model, properties)
    assert errors == {}
    assert normalized == saved


def test_inputs_read_as_text():
    assert fields_from_properties("package", {"amount": "10", "package_size": 1000, "free_units": 0}) == {
        "package_amount": "10",
        "package_size": "1000",
        "free_units": "0",
        "pricing_group_keys": "",
    }
    graduated = fields_from_properties("graduated", SAVED[6][1])
    assert graduated["tiers"] == [
        tier("0", "100", "0.1", "1"),
        tier("101", "1000", "0.05", "0"),
        tier("1001", "", "0.01", "0"),
    ]
    assert fields_from_properties("graduated", {"graduated_ranges": []})["tiers"] == starting_tiers()
    assert fields_from_properties("standard", {"amount": "1", "grouped_by": ["region"]})["pricing_group_keys"] == (
        "region"
    )


def test_inputs_become_the_properties_the_api_takes():
    assert properties_from_fields("standard", {"amount": " 0.50 "}) == {"amount": "0.50"}
    # Counts become JSON integers; an empty free units is 0, as the API wants it sent.
    assert properties_from_fields("package", {"package_amount": "10", "package_size": "1000", "free_units": ""}) == {
        "amount": "10",
        "package_size": 1000,
        "free_units": 0,
    }
    # The optional percentage terms left empty are left out.
    assert properties_from_fields("percentage", {"rate": "1.5", "fixed_amount": "", "free_units_per_events": "3"}) == {
        "rate": "1.5",
        "free_units_per_events": 3,
    }
    # Tiers: whole-number bounds, the empty last end open, an empty flat amount 0, empty rows ignored.
    values = {"tiers": [tier("0", "100", "0.1"), tier(), tier("101", "", "0.05", "2"), tier(" ", "", "", "")]}
    assert properties_from_fields("volume", values) == {
        "volume_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "0.1", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.05", "flat_amount": "2"},
        ]
    }
    assert properties_from_fields("standard", {"amount": "1", "pricing_group_keys": "region, , country"}) == {
        "amount": "1",
        "pricing_group_keys": ["region", "", "country"],  # the rules drop the empty name
    }


def test_only_the_chosen_models_inputs_are_read():
    everything = {
        "amount": "1",
        "package_amount": "2",
        "package_size": "10",
        "rate": "3",
        "fixed_amount": "4",
        "tiers": [tier("0", "", "5")],
    }
    assert properties_from_fields("standard", everything) == {"amount": "1"}
    assert properties_from_fields("package", everything) == {"amount": "2", "package_size": 10, "free_units": 0}
    assert properties_from_fields("percentage", everything) == {"rate": "3", "fixed_amount": "4"}
    assert properties_from_fields("graduated", everything) == {
        "graduated_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "5", "flat_amount": "0"}]
    }


@pytest.mark.parametrize("typed", ["1.5", "1e3", "1,000", "ten", "9" * 5000])
def test_a_count_that_is_not_a_whole_number_goes_to_the_rules_as_typed(typed):
    properties = properties_from_fields("package", {"package_amount": "1", "package_size": typed})
    assert properties["package_size"] == typed
    _, errors = validate_properties("package", properties)
    assert errors == {"package_size": ["invalid_package_size"]}


# Refusals -> inputs -------------------------------------------------------------------------------


def placed(model: str, values: dict):
    properties = properties_from_fields(model, values)
    _, errors = validate_properties(model, properties)
    assert errors, "the rules accept these inputs"
    return place_errors(model, properties, errors)


@pytest.mark.parametrize(
    ("model", "values", "field", "message"),
    [
        ("standard", {"amount": ""}, "amount", "Enter a price of 0 or more, such as 0.5."),
        ("standard", {"amount": "-1"}, "amount", "Enter a price of 0 or more, such as 0.5."),
        ("package", {"package_amount": "x", "package_size": "1"}, "package_amount", "Enter a price of 0 or more"),
        ("package", {"package_amount": "1", "package_size": "0"}, "package_size", "1 or more"),
        ("package", {"package_amount": "1", "package_size": "5", "free_units": "-1"}, "free_units", "0 or more"),
        ("percentage", {"rate": "1,5"}, "rate", "Enter a percentage of 0 or more, such as 1.5."),
        ("percentage", {"rate": "1", "fixed_amount": "-0.2"}, "fixed_amount", "or leave empty for none"),
        ("percentage", {"rate": "1", "free_units_per_events": "0"}, "free_units_per_events", "events, 1 or more"),
        ("percentage", {"rate": "1", "free_units_per_total_aggregation": "x"}, "free_units_per_total_aggregation", ""),
        ("percentage", {"rate": "1", "per_transaction_min_amount": "-1"}, "per_transaction_min_amount", "no minimum"),
        (
            "percentage",
            {"rate": "1", "per_transaction_min_amount": "5", "per_transaction_max_amount": "1"},
            "per_transaction_max_amount",
            "The maximum per transaction is below the minimum.",
        ),
    ],
)
def test_a_refused_term_is_put_on_its_input(model, values, field, message):
    placement = placed(model, values)
    assert list(placement.fields) == [field]
    assert message in placement.fields[field][0]
    assert not placement.cells and not placement.table and not placement.elsewhere


@pytest.mark.parametrize(
    ("model", "tiers", "cell", "message"),
    [
        # Overlapping: the second tier starts inside the first.
        (
            "graduated",
            [tier("0", "100", "1"), tier("50", "200", "1"), tier("201", "", "1")],
            (1, "from_value"),
            "Start at 101, one unit after the previous tier ends, or at 100, where it ends.",
        ),
        # Non-increasing: the second tier ends before it starts.
        (
            "graduated",
            [tier("0", "100", "1"), tier("101", "50", "1"), tier("51", "", "1")],
            (1, "to_value"),
            "above 101",
        ),
        ("volume", [tier("0", "100", "1"), tier("100", "", "1")], (1, "from_value"), "Start at 101, one unit after"),
        ("volume", [tier("5", "100", "1"), tier("101", "", "1")], (0, "from_value"), "Start the first tier at 0 or 1."),
        ("graduated", [tier("0", "10", "1"), tier("10", "20", "1"), tier("21", "", "1")], (2, "from_value"), "at 20,"),
        ("graduated", [tier("0", "100", "1"), tier("101", "", "1"), tier("201", "", "1")], (1, "to_value"), "open-"),
        ("graduated", [tier("0", "100", "1"), tier("101", "200", "1")], (1, "to_value"), "Leave empty"),
        ("volume", [tier("0", "1e3", "1"), tier("1001", "", "1")], (0, "to_value"), "Enter a whole number of units."),
        ("volume", [tier("0", "100", "-1"), tier("101", "", "1")], (0, "per_unit_amount"), "0 or more"),
        ("graduated", [tier("0", "100", "1"), tier("101", "", "1", "-2")], (1, "flat_amount"), "leave empty for none"),
    ],
)
def test_a_refused_tier_is_put_on_its_cell(model, tiers, cell, message):
    placement = placed(model, {"tiers": tiers})
    assert list(placement.cells) == [cell]
    assert message in placement.cells[cell]
    assert not placement.fields and not placement.table


def test_every_bad_amount_is_placed_but_only_the_first_bad_bound():
    tiers = [tier("0", "100", "x"), tier("90", "80", "1", "-1"), tier("81", "", "")]
    placement = placed("graduated", {"tiers": tiers})
    assert sorted(placement.cells) == [
        (0, "per_unit_amount"),
        (1, "flat_amount"),
        (1, "from_value"),
        (2, "per_unit_amount"),
    ]


def test_no_tier_at_all_is_said_of_the_table():
    placement = placed("volume", {"tiers": [tier(), tier()]})
    assert placement.table == ["Add at least one tier."] and not placement.cells


def test_group_keys_refused_by_the_rules_are_put_on_their_input():
    # The editor strips each name and the rules drop the empty ones: what it sends is never refused.
    properties = properties_from_fields("standard", {"amount": "1", "pricing_group_keys": "region,   "})
    assert validate_properties("standard", properties) == ({"amount": "1", "pricing_group_keys": ["region"]}, {})
    # Properties saved through the API may hold a blank name; the refusal lands on the input.
    properties = {"amount": "1", "pricing_group_keys": ["region", "  "]}
    _, errors = validate_properties("standard", properties)
    assert place_errors("standard", properties, errors).fields == {
        "pricing_group_keys": ["Enter event property names separated by commas, such as region, country."]
    }


# The same rules as the API -------------------------------------------------------------------------

EDITOR_INPUTS = [
    ("standard", {"amount": "0.5"}),
    ("standard", {"amount": "0,5"}),
    ("package", {"package_amount": "10", "package_size": "0", "free_units": "-1"}),
    ("percentage", {"rate": "1.5", "per_transaction_min_amount": "3", "per_transaction_max_amount": "2"}),
    ("percentage", {"rate": "1.5", "free_units_per_events": "2", "fixed_amount": "0.1"}),
    ("graduated", {"tiers": [tier("0", "100", "1"), tier("100", "200", "1"), tier("201", "", "1")]}),
    ("graduated", {"tiers": [tier("0", "100", "1"), tier("101", "", "0.5", "10")]}),
    ("volume", {"tiers": [tier("0", "10", "1"), tier("10", "", "1")]}),
    ("volume", {"tiers": []}),
]


@pytest.mark.parametrize(("model", "values"), EDITOR_INPUTS)
def test_the_editor_refuses_exactly_what_the_plan_service_refuses(organization, model, values):
    metric = make_metric(organization, "volume_gb", "sum_agg", "gb")
    properties = properties_from_fields(model, values)
    _, editor_errors = validate_properties(model, properties)
    charge = {"billable_metric_id": str(metric.pk), "charge_model": model, "properties": properties}
    if editor_errors:
        with pytest.raises(ValidationFailed) as refusal:
            make_plan(organization, charges=[charge])
        assert refusal.value.details == editor_errors
        assert place_errors(model, properties, editor_errors)  # and the editor shows each of them
    else:
        plan = make_plan(organization, charges=[charge])
        assert plan.charges.get().properties == validate_properties(model, properties)[0]


# The plan form -------------------------------------------------------------------------------------


def test_create_a_plan_with_each_charge_model(staff_client, organization):
    metric = make_metric(organization, "amount", "sum_agg", "amount")
    tiers = tier_inputs(tier("0", "100", "0.1", "1"), tier("101", "", "0.05"))
    charges = [
        {"charge_model": "standard", "amount": "0.5", "pricing_group_keys": "region"},
        {"charge_model": "package", "package_amount": "10", "package_size": "1000", "free_units": "100"},
        {
            "charge_model": "percentage",
            "rate": "1.5",
            "fixed_amount": "0.2",
            "free_units_per_events": "5",
            "free_units_per_total_aggregation": "500",
            "per_transaction_min_amount": "0.5",
            "per_transaction_max_amount": "3",
        },
        {"charge_model": "graduated", **tiers},
        {"charge_model": "volume", **tiers},
    ]
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data(*({"billable_metric_id": str(metric.pk), **charge} for charge in charges), amount_currency="USD"),
    )
    assert response.status_code == 302
    ladder = [
        {"from_value": 0, "to_value": 100, "per_unit_amount": "0.1", "flat_amount": "1"},
        {"from_value": 101, "to_value": None, "per_unit_amount": "0.05", "flat_amount": "0"},
    ]
    saved = [(c.charge_model, c.properties) for c in Plan.objects.get().charges.order_by("created_at")]
    assert saved == [
        ("standard", {"amount": "0.5", "pricing_group_keys": ["region"]}),
        ("package", {"amount": "10", "package_size": 1000, "free_units": 100}),
        (
            "percentage",
            {
                "rate": "1.5",
                "fixed_amount": "0.2",
                "free_units_per_events": 5,
                "free_units_per_total_aggregation": "500",
                "per_transaction_min_amount": "0.5",
                "per_transaction_max_amount": "3",
            },
        ),
        ("graduated", {"graduated_ranges": ladder}),
        ("volume", {"volume_ranges": ladder}),
    ]


def test_without_script_every_section_is_posted_and_the_chosen_one_is_used(staff_client, organization):
    metric = make_metric(organization)
    everything = {
        "billable_metric_id": str(metric.pk),
        "charge_model": "volume",
        "amount": "9",
        "package_amount": "9",
        "package_size": "9",
        "free_units": "",
        "rate": "9",
        "fixed_amount": "",
        **tier_inputs(tier("0", "10", "1"), tier("11", "", "0.5"), tier(), tier()),  # two blank spare rows
    }
    response = staff_client.post(reverse("plans:plan_create"), plan_data(everything))
    assert response.status_code == 302
    charge = Charge.objects.get()
    assert (charge.charge_model, list(charge.properties)) == ("volume", ["volume_ranges"])
    assert len(charge.properties["volume_ranges"]) == 2


def test_a_bad_tier_comes_back_with_the_error_in_its_cell(staff_client, organization):
    metric = make_metric(organization)
    ok = {"billable_metric_id": str(metric.pk), "charge_model": "standard", "amount": "1"}
    bad = {
        "billable_metric_id": str(metric.pk),
        "charge_model": "graduated",
        **tier_inputs(tier("0", "100", "0.1"), tier(), tier("50", "200", "0.05"), tier("201", "", "-1")),
    }
    response = staff_client.post(reverse("plans:plan_create"), plan_data(ok, bad))
    assert response.status_code == 200
    html = response.content.decode()
    rows = tier_table(html, 1)
    # What was typed comes back without the empty row, then blank rows for a page without script.
    assert [(row["from_value"][0], row["to_value"][0]) for row in rows] == [
        ("0", "100"),
        ("50", "200"),
        ("201", ""),
    ] + [("", "")] * SPARE_TIERS
    errors = {(index, cell): error for index, row in enumerate(rows) for cell, (_, error) in row.items() if error}
    assert errors == {
        (1, "from_value"): "Start at 101, one unit after the previous tier ends, or at 100, where it ends.",
        (2, "per_unit_amount"): "Enter an amount of 0 or more, such as 0.05.",
    }
    assert 'aria-describedby="charges-1-tiers-1-from_value-error"' in html
    assert tier_table(html, 0)[0]["from_value"] == ("0", "")  # the standard charge's own table is untouched
    assert not Plan.objects.exists()


def test_no_tier_is_said_under_the_table(staff_client, organization):
    metric = make_metric(organization)
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data({"billable_metric_id": str(metric.pk), "charge_model": "volume", **tier_inputs(tier(), tier())}),
    )
    html = response.content.decode()
    table = html[html.index('<div class="tiers has-error">') :]
    assert re.match(r'.*?</table>\s*<div class="field-error" role="alert">Add at least one tier.</div>', table, re.S)
    assert tier_table(html, 0)[0]["from_value"] == ("0", "")  # a table to start again from
    assert not Plan.objects.exists()


def test_a_refused_term_comes_back_next_to_its_input(staff_client, organization):
    metric = make_metric(organization, "amount", "sum_agg", "amount")
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data(
            {
                "billable_metric_id": str(metric.pk),
                "charge_model": "percentage",
                "rate": "2",
                "per_transaction_min_amount": "5",
                "per_transaction_max_amount": "1",
            }
        ),
    )
    html = response.content.decode()
    assert field_errors(html, "charges-0-per_transaction_max_amount") == (
        "The maximum per transaction is below the minimum."
    )
    assert (
        field_errors(html, "charges-0-rate") == "" and field_errors(html, "charges-0-per_transaction_min_amount") == ""
    )
    assert input_value(html, "charges-0-per_transaction_min_amount") == "5"
    assert not Plan.objects.exists()


def test_an_added_charge_left_untouched_is_ignored(staff_client, organization):
    metric = make_metric(organization)
    untouched = {"billable_metric_id": "", "charge_model": "standard", "amount": ""}  # its tiers were not posted
    response = staff_client.post(
        reverse("plans:plan_create"),
        plan_data({"billable_metric_id": str(metric.pk), "charge_model": "standard", "amount": "1"}, untouched),
    )
    assert response.status_code == 302
    assert Charge.objects.count() == 1


def test_editing_a_plan_fills_each_charges_inputs(staff_client, organization):
    metric = make_metric(organization, "amount", "sum_agg", "amount")
    plan = make_plan(
        organization,
        charges=[
            {"billable_metric_id": str(metric.pk), "charge_model": model, "properties": saved} for model, saved in SAVED
        ],
    )
    html = staff_client.get(reverse("plans:plan_edit", args=[plan.pk])).content.decode()
    for index, (model, saved) in enumerate(SAVED):
        select = re.search(rf'<select name="charges-{index}-charge_model".*?</select>', html, re.S).group(0)
        assert f'<option value="{model}" selected>' in select
        fields = fields_from_properties(model, saved)
        for name, value in fields.items():
            if name == "tiers":
                rows = tier_table(html, index)
                assert [{cell: text for cell, (text, _) in row.items()} for row in rows[: len(value)]] == value
            else:
                assert input_value(html, f"charges-{index}-{name}") == value, (index, name)
    # A model's inputs start blank on a charge of another model; its tiers table starts from 0.
    assert input_value(html, "charges-0-rate") == ""
    assert tier_table(html, 0)[0]["from_value"] == ("0", "")


def test_saving_an_edited_plan_unchanged_keeps_every_charge(staff_client, organization):
    metric = make_metric(organization, "amount", "sum_agg", "amount")
    plan = make_plan(
        organization,
        charges=[
            {"billable_metric_id": str(metric.pk), "charge_model": model, "properties": saved} for model, saved in SAVED
        ],
    )
    html = staff_client.get(reverse("plans:plan_edit", args=[plan.pk])).content.decode()
    # Post back what the page shows for each charge's model, as the browser does.
    rows = []
    for index, (model, _) in enumerate(SAVED):
        row = {"id": re.search(rf'name="charges-{index}-id" value="([^"]+)"', html).group(1), "charge_model": model}
        row["billable_metric_id"] = str(metric.pk)
        for name in ("amount", "package_amount", "package_size", "free_units", "rate", "fixed_amount"):
            row[name] = input_value(html, f"charges-{index}-{name}")
        for name in (
            "free_units_per_events",
            "free_units_per_total_aggregation",
            "per_transaction_min_amount",
            "per_transaction_max_amount",
            "pricing_group_keys",
        ):
            row[name] = input_value(html, f"charges-{index}-{name}")
        table = tier_table(html, index)
        row.update({f"tiers-{cell}": [r[cell][0] for r in table] for cell in table[0]})
        rows.append(row)
    response = staff_client.post(reverse("plans:plan_edit", args=[plan.pk]), plan_data(*rows, initial=len(rows)))
    assert response.status_code == 302
    after = [
        (c.charge_model, c.properties) for c in plan.charges.filter(deleted_at__isnull=True).order_by("created_at")
    ]
    assert after == SAVED


def test_the_editor_labels_prices_with_the_plans_currency(staff_client, organization):
    make_metric(organization)
    plan = make_plan(organization, amount_currency="JPY")
    html = staff_client.get(reverse("plans:plan_edit", args=[plan.pk])).content.decode()
    assert re.search(r'Price per unit <span class="muted" data-currency>JPY</span>', html)
    assert re.search(r'Per unit amount <span class="muted" data-currency>JPY</span>', html)
    response = staff_client.post(
        reverse("plans:plan_edit", args=[plan.pk]), plan_data(amount_currency="USD", amount="")
    )
    assert "data-currency>USD</span>" in response.content.decode()  # what was chosen, before saving


def test_the_plan_form_costs_the_same_queries_whatever_its_charges(staff_client, organization):
    metrics = [make_metric(organization, f"metric_{index}") for index in range(5)]
    saved = dict(SAVED)["volume"]

    def edit_page_queries(count: int) -> int:
        charges = [
            {"billable_metric_id": str(metric.pk), "charge_model": "volume", "properties": saved}
            for metric in metrics[:count]
        ]
        plan = make_plan(organization, code=f"plan_{count}", charges=charges)
        with CaptureQueriesContext(connection) as queries:
            html = staff_client.get(reverse("plans:plan_edit", args=[plan.pk])).content.decode()
        assert len(tier_table(html, count - 1)) == 2 + SPARE_TIERS
        return len(queries.captured_queries)

    assert edit_page_queries(5) == edit_page_queries(1)
