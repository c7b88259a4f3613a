"""A form page's fields as the template shows them: label and the manual's help in the page's
language, choices (enum values, or the names of referenced objects), value and errors."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from mailbridge.config_api.console.api_client import ConsoleApi
from mailbridge.config_api.console.forms import MULTISELECT, SELECT, FormField, FormState, fields_of, in_order
from mailbridge.config_api.console.i18n import Translator
from mailbridge.config_api.console.screens import REFERENCES


def schema_fields(app: FastAPI, schema: str, order: Sequence[str] = ()) -> list[FormField]:
    """The fields of a request schema of the API's own OpenAPI document (built once per app),
    those named in `order` first."""
    components = app.openapi()["components"]["schemas"]
    return in_order(fields_of(schema, components, REFERENCES), order)


async def reference_choices(api: ConsoleApi, fields: Sequence[FormField]) -> dict[str, list[tuple[str, str]]]:
    """For each reference field: (id, name) of the objects the key may read."""
    choices: dict[str, list[tuple[str, str]]] = {}
    for f in fields:
        reference = REFERENCES.get(f.name)
        if reference is not None:
            items = await api.all_items(reference.path)
            choices[f.name] = [
                (str(item["id"]), str(item.get(reference.label) or item["id"])) for item in items
            ]
    return choices


def field_views(
    t: Translator,
    screen: str,
    fields: Sequence[FormField],
    state: FormState,
    references: dict[str, list[tuple[str, str]]],
) -> list[dict[str, Any]]:
    views = []
    for f in fields:
        options: list[tuple[str, str]] = []
        if f.kind in (SELECT, MULTISELECT):
            if f.name in references:
                options = list(references[f.name])
                value = state.values.get(f.name)
                known = {option for option, _ in options}
                # A referenced object the key cannot list still shows as itself.
                for missing in [
                    v for v in (value if isinstance(value, list) else [value]) if v and v not in known
                ]:
                    options.append((missing, missing))
            else:
                options = [
                    (choice, t.first(f"enum.{f.enum}.{choice}", default=choice)) for choice in f.choices
                ]
            if f.kind == SELECT and (f.nullable or (not f.required and f.name in references)):
                options.insert(0, ("", t("ui.none")))
        views.append(
            {
                "name": f.name,
                "kind": f.kind,
                "label": t.first(f"field.{screen}.{f.name}", f"field.{f.name}", default=f.title),
                "help": t.first(f"help.{screen}.{f.name}", f"help.{f.name}", default=f.description),
                "required": f.required,
                "max_length": f.max_length,
                "options": options,
                "value": state.values.get(f.name),
                "errors": state.errors.get(f.name, []),
                "write_only": f.write_only,
            }
        )
    return views


def display(t: Translator, value: Any) -> str:
    """A value in a list's cell."""
    if value is True:
        return t("ui.yes")
    if value is False:
        return t("ui.no")
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
